"""Labelled JSON-lines sets for sparse probing from pinned Debian packages, analogues of SAEBench's tasks
(arXiv 2602.14111 probes with SAEBench; docs/offline-data.md). One row per line: {"text": ..., <label>: ...}.

- wordnet_topic (ag_news analogue), label `topic`: the lexicographer file of a noun synset, 5 classes
  (TOPIC_CLASSES); text 'headword: gloss', e.g. 'oak: a deciduous tree of the genus Quercus; ...'.
- wordnet_profession (bias_in_bios analogue), label `profession`: WordNet's named people (noun synsets with
  an instance-hypernym pointer) grouped by the occupation their instance hypernyms descend from
  (PROFESSION_GROUPS); a person in two groups is dropped (musicians are also artists in WordNet: they count
  as musicians). Text 'full name: gloss', e.g. 'Wolfgang Amadeus Mozart: prolific Austrian composer ...'.
  The profession word is NOT masked: a WordNet gloss is one sentence that usually names the occupation, and
  removing it would leave dates and nationality only. bias_in_bios's hard_text drops a biography's first sentence, yet the
  profession's vocabulary stays in the rest; here it is more explicit, so expect this task to be easier.
  WordNet holds only 3,814 named people: writer and scientist have ~500 rows, politician ~380, musician and
  artist ~250 (below SAEBench's 4,000+1,000 per class; probing reports such tasks as short).
- manpages_language (europarl analogue), label `language`: a paragraph of a man page in English (`manpages`)
  or a translation (`manpages-de`, -fr, -es, -it from manpages-l10n), only pages present both in English and
  in that translation, so the classes share their topics; a translated paragraph that equals an English one
  (left untranslated) is dropped. Dutch (SAEBench's 5th language) is left out:
  manpages-nl translates only 7 of the English package's pages; Italian replaces it.
Each class keeps at most `max_rows_per_class` rows, chosen and ordered by a hash of the row's key so that the
classes interleave (a reader that stops early still sees every class).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.offline.debian import PINS, fetch_deb
from saesanity.data.offline.markup import strip_groff
from saesanity.data.offline.wordnet import Synset, read_synsets

TOPIC_CLASSES = ("noun.artifact", "noun.person", "noun.plant", "noun.animal", "noun.food")
PROFESSION_GROUPS: dict[str, tuple[str, ...]] = {
    "writer": ("writer",),
    "scientist": ("scientist",),
    "politician": ("politician", "statesman", "head of state", "president"),
    "musician": ("musician", "composer", "singer"),
    "artist": ("painter", "sculptor", "architect", "photographer", "artist"),
}
LANGUAGE_PACKAGES = {"en": "manpages", "de": "manpages-de", "fr": "manpages-fr", "es": "manpages-es",
                     "it": "manpages-it"}
SETS = {"wordnet_topic": ("topic", ("wordnet-base",)),
        "wordnet_profession": ("profession", ("wordnet-base",)),
        "manpages_language": ("language", tuple(LANGUAGE_PACKAGES.values()))}
"""set name -> (label column, packages read)."""


@dataclass(frozen=True)
class ProbingSetsConfig:
    """The labelled probing sets (config: offline_text.probing)."""

    sets: list[str] = field(default_factory=lambda: list(SETS))
    """Which sets to write: wordnet_topic, wordnet_profession, manpages_language."""
    max_rows_per_class: int = 3000
    """Rows kept per class at most (SAEBench's default probing uses 4,000 + 1,000 documents per task, half
    per class)."""
    min_paragraph_words: int = 12
    """manpages_language: shorter paragraphs (option lists, headings) are dropped."""
    max_paragraph_words: int = 150
    """manpages_language: longer paragraphs are cut to their first words (the harvest reads 128-256 tokens)."""

    def __post_init__(self) -> None:
        bad = sorted(set(self.sets) - set(SETS))
        _check(not bad, "sets", f"unknown set(s) {bad}; known: {list(SETS)}")
        _check(bool(self.sets), "sets", "must name at least one set")
        _check(self.max_rows_per_class > 0, "max_rows_per_class", "must be positive")
        _check(0 < self.min_paragraph_words <= self.max_paragraph_words, "min_paragraph_words",
               "must be positive and at most max_paragraph_words")


def topic_rows(nouns: list[Synset]) -> Iterator[tuple[str, str, str]]:
    """(key, text, class) of every noun synset in one of TOPIC_CLASSES."""
    for s in nouns:
        if s.lexname in TOPIC_CLASSES:
            yield f"topic:{s.offset}", s.text(), s.lexname


def profession_of(person: Synset, anchors: dict[str, set[str]], by_offset: dict[str, Synset]) -> str | None:
    """The one group whose anchor synsets are ancestors of `person` (via its instance hypernyms), or None."""
    seen: set[str] = set()
    stack = list(person.instance_of)
    while stack:
        offset = stack.pop()
        if offset not in seen:
            seen.add(offset)
            stack.extend(by_offset[offset].hypernyms + by_offset[offset].instance_of)
    hits = {group for group, offsets in anchors.items() if offsets & seen}
    if {"musician", "artist"} <= hits:
        hits.discard("artist")
    return hits.pop() if len(hits) == 1 else None


def profession_rows(nouns: list[Synset]) -> Iterator[tuple[str, str, str]]:
    by_offset = {s.offset: s for s in nouns}
    anchors = {group: {s.offset for s in nouns if s.lexname == "noun.person" and set(s.lemmas) & set(words)}
               for group, words in PROFESSION_GROUPS.items()}
    for s in nouns:
        if s.instance_of and s.lexname == "noun.person":
            group = profession_of(s, anchors, by_offset)
            if group is not None:
                # A person's first lemma is often the surname alone ('Robinson'); the longest is the full name.
                yield f"profession:{s.offset}", f"{max(s.lemmas, key=len)}: {s.gloss}", group


def man_pages(root: Path, language: str) -> dict[str, Path]:
    """'manN/page.N.gz' -> file, for the English package (usr/share/man/manN) or a translation
    (usr/share/man/<language>/manN)."""
    base = root / "usr/share/man" / ("" if language == "en" else language)
    return {f"{p.parent.name}/{p.name}": p for p in sorted(base.glob("man*/*.gz")) if p.is_file()}


def page_paragraphs(path: Path) -> list[str]:
    source = gzip.open(path).read().decode("utf-8", errors="replace")
    if any(line.startswith(".so ") for line in source.splitlines()[:5]):
        return []  # a link to another page
    return strip_groff(source)


def language_rows(roots: dict[str, Path], cfg: ProbingSetsConfig) -> Iterator[tuple[str, str, str]]:
    pages = {lang: man_pages(root, lang) for lang, root in roots.items()}
    translated = set().union(*(set(p) for lang, p in pages.items() if lang != "en"))
    # A translation leaves some paragraphs in English (untranslated text, examples): those are not its language.
    english = {para for path in pages["en"].values() for para in page_paragraphs(path)}
    for lang, files in pages.items():
        shared = set(files) & (translated if lang == "en" else set(pages["en"]))
        for page in sorted(shared):
            for i, para in enumerate(page_paragraphs(files[page])):
                words = para.split()
                if len(words) >= cfg.min_paragraph_words and (lang == "en" or para not in english):
                    yield f"language:{lang}:{page}:{i}", " ".join(words[:cfg.max_paragraph_words]), lang


def _rank(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def select(rows: list[tuple[str, str, str]], max_per_class: int) -> list[tuple[str, str, str]]:
    """At most `max_per_class` rows per class, the ones with the smallest hash of their key, in hash order.
    Duplicate texts of a class (WordNet repeats some glosses) are kept once."""
    kept: list[tuple[str, str, str]] = []
    per_class: Counter = Counter()
    seen: set[tuple[str, str]] = set()
    for row in sorted(rows, key=lambda r: _rank(r[0])):
        key, text, label = row
        if per_class[label] < max_per_class and (text, label) not in seen:
            seen.add((text, label))
            per_class[label] += 1
            kept.append(row)
    return kept


def build_probing_sets(cfg: ProbingSetsConfig, cache_dir: str | Path, out_dir: str | Path) -> dict:
    """Writes <set>.jsonl per set and provenance.json (packages, counts per class) into `out_dir`."""
    cache_dir = Path(cache_dir)
    roots = {name: fetch_deb(PINS[name], cache_dir) for s in cfg.sets for name in SETS[s][1]}
    nouns = read_synsets(roots["wordnet-base"], "noun") if "wordnet-base" in roots else []
    builders = {
        "wordnet_topic": lambda: topic_rows(nouns),
        "wordnet_profession": lambda: profession_rows(nouns),
        "manpages_language": lambda: language_rows({lang: roots[p] for lang, p in LANGUAGE_PACKAGES.items()}, cfg),
    }
    provenance: dict = {"config": asdict(cfg), "sets": {}}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        for name in cfg.sets:
            column, packages = SETS[name]
            rows = list(builders[name]())
            kept = select(rows, cfg.max_rows_per_class)
            with open(tmp / f"{name}.jsonl", "w", encoding="utf-8") as f:
                for _, text, label in kept:
                    f.write(json.dumps({"text": text, column: label}, ensure_ascii=False, sort_keys=True) + "\n")
            provenance["sets"][name] = {
                "label_column": column,
                "packages": [asdict(PINS[p]) for p in packages],
                "rows_per_class": dict(sorted(Counter(label for *_, label in kept).items())),
                "available_per_class": dict(sorted(Counter(label for *_, label in rows).items())),
            }
        (tmp / "provenance.json").write_text(json.dumps(provenance, indent=1, sort_keys=True) + "\n")
    return provenance
