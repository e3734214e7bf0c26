"""Sentiment and source probing sets from the human-rated snippets of VADER (Hutto and Gilbert, ICWSM 2014),
shipped in vaderSentiment's sdist as additional_resources/hutto_ICWSM_2014.tar.gz (MIT).

Each `<source>_GroundTruth.txt` line is `id <TAB> mean human rating (-4..+4) <TAB> text`. Two sets, JSON lines
that `saesanity.evals.probing.data` reads as local data sets (path: json, data_files: [...]):
- sentiment.jsonl: the movie-review snippets rated clearly (mean >= +threshold: positive, <= -threshold:
  negative); SAEBench's amazon-reviews sentiment task (arXiv 2602.14111 probes with SAEBench) in kind;
- source.jsonl: every snippet of the four sources (movie, tweets, amazon, nyt), labelled with its source.
An exact duplicate of an earlier text of the same file is dropped: a copy on both sides of a probe's
train/test split would inflate its accuracy.
"""

from __future__ import annotations

import json
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.offline.pypi import VADER, fetch_pypi

CORPUS_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
SOURCE_FILES = {"movie": "movieReviewSnippets_GroundTruth.txt", "tweets": "tweets_GroundTruth.txt",
                "amazon": "amazonReviewSnippets_GroundTruth.txt", "nyt": "nytEditorialSnippets_GroundTruth.txt"}
SENTIMENT_SOURCE = "movie"
SENTIMENT_FILE, SOURCE_FILE, PROVENANCE_FILE = "sentiment.jsonl", "source.jsonl", "provenance.json"


@dataclass(frozen=True)
class SentimentSettings:
    """offline_labels.sentiment of the config (workflow/schemas/config.schema.yaml)."""

    threshold: float = 1.0
    """A movie snippet is positive when its mean human rating is >= threshold, negative when <= -threshold;
    the ones between are left out (ratings run -4..+4)."""

    def __post_init__(self) -> None:
        _check(0 < self.threshold <= 4, "threshold", f"must be in (0, 4], got {self.threshold}")


@dataclass(frozen=True)
class RatedSnippet:
    source: str
    id: str
    rating: float
    text: str


def read_snippets(vader_root: str | Path) -> list[RatedSnippet]:
    """Every rated snippet of the four sources, in file order, duplicates within a file dropped."""
    archive = Path(vader_root) / CORPUS_ARCHIVE
    if not archive.exists():
        raise FileNotFoundError(f"{archive}: missing; is {vader_root} vaderSentiment's sdist (not its wheel)?")
    out: list[RatedSnippet] = []
    with tarfile.open(archive, "r:gz") as tf:
        for source, name in SOURCE_FILES.items():
            raw = tf.extractfile(f"hutto_ICWSM_2014/{name}").read().decode("utf-8")
            seen: set[str] = set()
            for lineno, line in enumerate(raw.splitlines(), 1):
                if not line.strip():
                    continue
                parts = line.split("\t")
                if len(parts) != 3:
                    raise ValueError(f"{archive}:{name}:{lineno}: expected id, rating, text; got {line[:80]!r}")
                text = parts[2].strip()
                if text in seen:
                    continue
                seen.add(text)
                out.append(RatedSnippet(source, parts[0], float(parts[1]), text))
    return out


def sentiment_label(rating: float, threshold: float) -> str | None:
    return "positive" if rating >= threshold else "negative" if rating <= -threshold else None


def build_sentiment_sets(settings: SentimentSettings, cache_dir: str | Path, out: str | Path) -> dict:
    """`out`/sentiment.jsonl, source.jsonl and provenance.json (counts per class); returns the provenance."""
    root = fetch_pypi(VADER, cache_dir)
    snippets = read_snippets(root)
    sentiment_rows = []
    for s in snippets:
        label = sentiment_label(s.rating, settings.threshold) if s.source == SENTIMENT_SOURCE else None
        if label is not None:
            sentiment_rows.append({"text": s.text, "sentiment": label, "rating": s.rating, "id": s.id})
    source_rows = [{"text": s.text, "source": s.source, "rating": s.rating, "id": s.id} for s in snippets]
    provenance = {
        "source": {**asdict(VADER), "member": CORPUS_ARCHIVE,
                   "citation": "Hutto and Gilbert, VADER, ICWSM 2014"},
        "settings": asdict(settings),
        "sentiment": {"file": SENTIMENT_FILE, "from": SENTIMENT_SOURCE, "counts": _counts(sentiment_rows, "sentiment")},
        "source_task": {"file": SOURCE_FILE, "counts": _counts(source_rows, "source")},
    }
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write_jsonl(tmp / SENTIMENT_FILE, sentiment_rows)
        _write_jsonl(tmp / SOURCE_FILE, source_rows)
        (tmp / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance


def _counts(rows: list[dict], key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r[key]] = counts.get(r[key], 0) + 1
    return dict(sorted(counts.items()))


def _write_jsonl(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n")
