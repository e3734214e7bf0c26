"""The English training corpus from pinned Debian packages (docs/offline-data.md): GCIDE dictionary entries,
WordNet glosses, the Python 3.11 manual and fortune cookies, or a user's own folder of .txt files.

Documents, in a fixed order (sources in the config's order, each source in its files' order):
- gcide: one dictionary entry (dictd index order by offset, duplicates of one entry once), markup stripped;
- wordnet: WORDNET_GROUP consecutive synsets of one lexicographer file, one 'headword: gloss' line each;
- python_doc: one node (section) of python3.11.info, menus and footnotes dropped;
- fortunes: one fortune (the pictures of `art` and `ascii-art` left out);
- own_text: one .txt file (name order).
A document longer than `chunk_words` becomes several rows of at most that many words, cut at paragraph
boundaries where possible: the harvest reads 128-256 tokens of a row (SmolLM2 makes about 1.3 tokens per
English word), so 300 words fill a context without much waste. Rows of one document stay in one split: the
split hashes the document's key (source and index), so it never depends on the other documents.

Outputs: train.jsonl and heldout.jsonl ({"doc": row number, "source": ..., "text": ...} per line, doc numbers
shared by both files and disjoint) and provenance.json (packages, versions, SHA-256, licences, counts).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.offline.debian import PINS, fetch_deb
from saesanity.data.offline.markup import collapse, info_nodes, strip_gcide
from saesanity.data.offline.wordnet import PARTS_OF_SPEECH, read_synsets

SOURCE_PACKAGES = {"gcide": "dict-gcide", "wordnet": "wordnet-base", "python_doc": "python3.11-doc",
                   "fortunes": "fortunes"}
OWN_TEXT = "own_text"
WORDNET_GROUP = 20
FORTUNE_PICTURES = ("art", "ascii-art")


@dataclass(frozen=True)
class EnglishTextConfig:
    """The English corpus (config: offline_text.english)."""

    sources: list[str] = field(default_factory=lambda: list(SOURCE_PACKAGES))
    """Package sources, in this order: gcide, wordnet, python_doc, fortunes (any subset; may be empty when
    own_text is set)."""
    own_text: str | None = None
    """A folder of .txt files, one document each, added after the package sources (None: none)."""
    heldout_fraction: float = 0.05
    """Share of documents (not rows) in heldout.jsonl, chosen by a hash of the document's key."""
    chunk_words: int = 300
    """Rows have at most this many words; longer documents are cut, at paragraph boundaries where possible."""
    min_words: int = 5
    """Documents with fewer words are dropped (headword-only dictionary stubs)."""

    def __post_init__(self) -> None:
        bad = sorted(set(self.sources) - set(SOURCE_PACKAGES))
        _check(not bad, "sources", f"unknown source(s) {bad}; known: {list(SOURCE_PACKAGES)}")
        _check(len(set(self.sources)) == len(self.sources), "sources", "a source is listed twice")
        _check(bool(self.sources) or self.own_text is not None, "sources",
               "empty, and no own_text: the corpus would be empty")
        _check(0 < self.heldout_fraction < 1, "heldout_fraction", "must be in (0, 1)")
        _check(self.chunk_words >= 20, "chunk_words", "must be at least 20")
        _check(self.min_words >= 1, "min_words", "must be positive")


def heldout(key: str, fraction: float) -> bool:
    """Whether document `key` is held out: the first 8 bytes of its SHA-256 as a number in [0, 1)."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2 ** 64 < fraction


def chunk(text: str, max_words: int) -> list[str]:
    """`text` (paragraphs separated by blank lines or newlines) cut into rows of at most `max_words` words:
    whole paragraphs while they fit, a paragraph longer than a row cut into word windows."""
    rows: list[str] = []
    current: list[str] = []
    size = 0
    for para in (p for p in text.split("\n") if p.strip()):
        words = para.split()
        if size and size + len(words) > max_words:
            rows.append("\n".join(current))
            current, size = [], 0
        while len(words) > max_words:
            rows.append(" ".join(words[:max_words]))
            words = words[max_words:]
        if words:
            current.append(" ".join(words))
            size += len(words)
    if current:
        rows.append("\n".join(current))
    return rows


def _decode(blob: bytes) -> str:
    # A few GCIDE entries are in cp1252 (e.g. the byte 0x92 for a right quote) inside an otherwise UTF-8 file.
    try:
        return blob.decode("utf-8")
    except UnicodeDecodeError:
        return blob.decode("cp1252", errors="replace")


def _dictd_number(digits: str) -> int:
    # dictd's index writes offsets and lengths in base 64, most significant digit first.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    value = 0
    for d in digits:
        value = value * 64 + alphabet.index(d)
    return value


def gcide_documents(root: Path) -> Iterator[str]:
    data = gzip.open(root / "usr/share/dictd/gcide.dict.dz").read()
    spans = set()
    for line in (root / "usr/share/dictd/gcide.index").read_text(encoding="utf-8", errors="replace").splitlines():
        parts = line.split("\t")
        if len(parts) >= 3 and not parts[0].startswith("00-database"):
            spans.add((_dictd_number(parts[1]), _dictd_number(parts[2])))
    for start, length in sorted(spans):
        yield strip_gcide(_decode(data[start:start + length]))


def wordnet_documents(root: Path) -> Iterator[str]:
    for pos in PARTS_OF_SPEECH:
        synsets = read_synsets(root, pos)
        by_file: dict[str, list[str]] = {}
        for s in synsets:
            by_file.setdefault(s.lexname, []).append(s.text())
        for lexname in sorted(by_file):
            lines = by_file[lexname]
            for i in range(0, len(lines), WORDNET_GROUP):
                yield "\n".join(lines[i:i + WORDNET_GROUP])


def python_doc_documents(root: Path) -> Iterator[str]:
    info = gzip.open(root / "usr/share/info/python3.11.info.gz").read().decode("utf-8", errors="replace")
    for _, body in info_nodes(info):
        yield collapse(body).replace("\n\n", "\n")


def fortunes_documents(root: Path) -> Iterator[str]:
    folder = root / "usr/share/games/fortunes"
    for path in sorted(folder.iterdir()):
        if "." in path.name or path.is_symlink() or path.name in FORTUNE_PICTURES:
            continue
        for fortune in re.split(r"^%\s*$", path.read_text(encoding="utf-8", errors="replace"), flags=re.MULTILINE):
            yield " ".join(fortune.split())


SOURCE_READERS = {"gcide": gcide_documents, "wordnet": wordnet_documents, "python_doc": python_doc_documents,
                  "fortunes": fortunes_documents}


def own_text_documents(folder: Path) -> Iterator[tuple[str, str]]:
    files = sorted(Path(folder).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"offline_text.english.own_text: no .txt files in {folder}")
    for path in files:
        yield path.name, collapse(path.read_text(encoding="utf-8", errors="replace")).replace("\n\n", "\n")


def _documents(cfg: EnglishTextConfig, cache_dir: Path) -> Iterator[tuple[str, str, str]]:
    """(source, key, text) of every document in corpus order."""
    for source in cfg.sources:
        root = fetch_deb(PINS[SOURCE_PACKAGES[source]], cache_dir)
        for i, text in enumerate(SOURCE_READERS[source](root)):
            yield source, f"{source}:{i}", text
    if cfg.own_text is not None:
        for name, text in own_text_documents(Path(cfg.own_text)):
            yield OWN_TEXT, f"{OWN_TEXT}:{name}", text


def build_english(cfg: EnglishTextConfig, cache_dir: str | Path, out_dir: str | Path) -> dict:
    """Writes train.jsonl, heldout.jsonl and provenance.json into `out_dir` (atomically); returns the
    provenance."""
    counts: dict[str, dict[str, dict[str, int]]] = {}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        files = {split: open(tmp / f"{split}.jsonl", "w", encoding="utf-8") for split in ("train", "heldout")}
        row = 0
        try:
            for source, key, text in _documents(cfg, Path(cache_dir)):
                if len(text.split()) < cfg.min_words:
                    continue
                split = "heldout" if heldout(key, cfg.heldout_fraction) else "train"
                c = counts.setdefault(source, {}).setdefault(split, {"documents": 0, "rows": 0, "words": 0})
                c["documents"] += 1
                for piece in chunk(text, cfg.chunk_words):
                    files[split].write(json.dumps({"doc": row, "source": source, "text": piece},
                                                  ensure_ascii=False, sort_keys=True) + "\n")
                    c["rows"] += 1
                    c["words"] += len(piece.split())
                    row += 1
        finally:
            for f in files.values():
                f.close()
        provenance = {
            "config": asdict(cfg),
            "packages": [asdict(PINS[SOURCE_PACKAGES[s]]) for s in cfg.sources],
            "counts": counts,
            "words": {split: sum(c.get(split, {}).get("words", 0) for c in counts.values())
                      for split in ("train", "heldout")},
            "word_count": "whitespace-separated words; SmolLM2's tokenizer makes about 1.3 tokens per English word",
        }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance
