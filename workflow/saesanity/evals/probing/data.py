"""Labelled documents for sparse probing: the toy world's label sets, or SAEBench's data sets read with
`datasets` (arXiv 2602.14111 evaluates with SAEBench's sparse probing: bias_in_bios, amazon reviews,
github-code, ag_news, europarl).

Every data set becomes one `LabelledDocs`: texts and, per label set, one class name per text (None where
a text belongs to none of the label set's chosen classes). A small registry says, per data set, where it
lives on the Hugging Face hub, its text column and its label columns with the classes SAEBench probes.
`path`/`data_files` in the config replace the hub location by local files in the same format (JSON lines,
Parquet, CSV: any `datasets` builder), which is how the tests run offline.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from saesanity.config import _check
from saesanity.lm.model import ModelNotAvailable, one_line

TOYWORLD = "toyworld"


@dataclass(frozen=True)
class LabelSet:
    """One label column and the classes probed (None: every value that occurs)."""

    column: str
    classes: tuple[str, ...] | None = None


@dataclass(frozen=True)
class RegistryEntry:
    hub_path: str
    """The data set on the Hugging Face hub; '' for a local-only set."""
    text_column: str
    label_sets: dict[str, LabelSet]
    configs: tuple[str | None, ...] = (None,)
    """Hub configurations read one after the other."""
    split: str = "train"
    rows: Callable[[dict, str | None], Iterator[dict]] | None = None
    """Turns one raw row (and its configuration) into flat rows ({text column, label columns}); None: the
    row is flat already."""
    local_only: bool = False
    """No hub copy exists (hub_path ''): path/data_files name the local files a rule of the pipeline makes
    (docs/offline-data.md); saesanity.pipeline.specs fills them in."""


def _europarl_rows(row: dict, config: str | None) -> Iterator[dict]:
    # Helsinki-NLP/europarl rows are translation pairs {"translation": {"en": ..., "fr": ...}}. SAEBench reads
    # language L from one pair per language (en from en-fr, fr from fr-it, ...); a local file without a
    # configuration gives every side of every pair, each labelled with its language.
    for language, text in sorted(row["translation"].items()):
        if config is None or language == config.split("-")[0]:
            yield {"text": text, "language": language}


# SAEBench skips each file's first 150 characters (about 50 tokens) to drop licence headers.
GITHUB_SKIP_CHARS = 150


def _github_rows(row: dict, config: str | None) -> Iterator[dict]:
    yield {"code": row["code"][GITHUB_SKIP_CHARS:], "language": row["language"]}


# The classes are SAEBench's `chosen_classes_per_dataset` (5 per set at most; bias_in_bios in three sets).
REGISTRY: dict[str, RegistryEntry] = {
    "bias_in_bios": RegistryEntry(
        "LabHC/bias_in_bios", "hard_text",
        {"profession_set1": LabelSet("profession", ("0", "1", "2", "6", "9")),
         "profession_set2": LabelSet("profession", ("11", "13", "14", "18", "19")),
         "profession_set3": LabelSet("profession", ("20", "21", "22", "25", "26")),
         "gender": LabelSet("gender", ("0", "1"))}),
    "amazon_reviews": RegistryEntry(
        "canrager/amazon_reviews_mcauley_1and5", "text",
        {"category": LabelSet("category", ("1", "2", "3", "5", "6")),
         "sentiment": LabelSet("rating", ("1.0", "5.0"))}),
    "ag_news": RegistryEntry("fancyzhx/ag_news", "text", {"topic": LabelSet("label", ("0", "1", "2", "3"))}),
    "europarl": RegistryEntry(
        "Helsinki-NLP/europarl", "text", {"language": LabelSet("language", ("en", "fr", "de", "es", "nl"))},
        configs=("en-fr", "fr-it", "de-en", "es-fr", "nl-pt"), rows=_europarl_rows),
    "github_code": RegistryEntry(
        "codeparrot/github-code", "code",
        {"language": LabelSet("language", ("C", "Python", "HTML", "Java", "PHP"))}, rows=_github_rows),
    # Human-rated snippets from vaderSentiment's sdist (saesanity.data.offline.sentiment, rule sentiment_set):
    # movie-review sentiment (amazon sentiment's analogue) and which of four sources a snippet comes from.
    "movie_sentiment": RegistryEntry("", "text", {"sentiment": LabelSet("sentiment", ("negative", "positive"))},
                                     local_only=True),
    "snippet_source": RegistryEntry("", "text",
                                    {"source": LabelSet("source", ("amazon", "movie", "nyt", "tweets"))},
                                    local_only=True),
    # Local-only sets written by saesanity.data.offline.probing_sets (rule probing_sets, results/text/probing):
    # SAEBench's kinds of task from pinned Debian packages; the classes are all the file holds (5 each).
    "wordnet_topic": RegistryEntry(
        "", "text", {"topic": LabelSet("topic", ("noun.artifact", "noun.person", "noun.plant", "noun.animal",
                                                   "noun.food"))}, local_only=True),
    "wordnet_profession": RegistryEntry(
        "", "text", {"profession": LabelSet("profession", ("writer", "scientist", "politician", "musician",
                                                             "artist"))}, local_only=True),
    "manpages_language": RegistryEntry(
        "", "text", {"language": LabelSet("language", ("en", "de", "fr", "es", "it"))}, local_only=True),
}
TOYWORLD_LABEL_SETS = {name: LabelSet(name) for name in ("topic", "sentiment", "register")}


@dataclass(frozen=True)
class ProbingDataset:
    """One data set of the probing tasks (config: evals.probing.datasets)."""

    name: str
    """'toyworld' (the corpus's documents, label sets topic, sentiment, register) or a registry key:
    bias_in_bios, amazon_reviews, ag_news, europarl, github_code (hub), or the sets built offline (local only:
    path and data_files, which the pipeline fills in with its own files): movie_sentiment, snippet_source,
    wordnet_topic, wordnet_profession, manpages_language."""
    path: str | None = None
    """toyworld: the corpus folder. Others: replaces the hub name, e.g. 'json' with data_files, or a local
    folder saved by datasets; None: the registry's hub name."""
    config_name: str | None = None
    """With `path`: the configuration of the local data set (None: the registry's configurations apply to
    the hub data set only)."""
    split: str | None = None
    """None: the registry's split."""
    data_files: list[str] | None = None
    max_rows: int = 200_000
    """Rows read at most (streamed); reading also stops once every class has enough texts."""
    skip_label_sets: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _check(self.name == TOYWORLD or self.name in REGISTRY, "name",
               f"unknown probing data set {self.name!r}; known: {[TOYWORLD, *sorted(REGISTRY)]}")
        _check(self.max_rows > 0, "max_rows", "must be positive")
        _check(self.name == TOYWORLD or not REGISTRY[self.name].local_only or bool(self.path), "path",
               f"{self.name} is local only: the config's path/data_files must be set, e.g. path: json, "
               f"data_files: [the .jsonl file its rule writes] (docs/offline-data.md)")
        known = TOYWORLD_LABEL_SETS if self.name == TOYWORLD else REGISTRY[self.name].label_sets
        bad = sorted(set(self.skip_label_sets) - set(known))
        _check(not bad, "skip_label_sets", f"unknown label set(s) {bad} of {self.name}; known: {sorted(known)}")

    @property
    def label_sets(self) -> dict[str, LabelSet]:
        known = TOYWORLD_LABEL_SETS if self.name == TOYWORLD else REGISTRY[self.name].label_sets
        return {k: v for k, v in known.items() if k not in self.skip_label_sets}


@dataclass(frozen=True)
class LabelledDocs:
    name: str
    texts: list[str]
    labels: dict[str, list[str | None]]
    """label set -> one class per text (None: not one of the set's classes)."""


def load_labelled(ds: ProbingDataset, per_class: int) -> LabelledDocs:
    """The texts of `ds` with their labels; a hub data set is read until every class of every label set has
    `per_class` texts (or `max_rows` rows were read)."""
    if ds.name == TOYWORLD:
        from saesanity.data.toyworld import read_documents
        table = read_documents(ds.path or "results/toyworld/corpus")
        return LabelledDocs(ds.name, table["text"].to_pylist(),
                            {k: [str(v) for v in table[s.column].to_pylist()] for k, s in ds.label_sets.items()})
    entry = REGISTRY[ds.name]
    texts: list[str] = []
    labels: dict[str, list[str | None]] = {k: [] for k in ds.label_sets}
    counts = {k: {} for k in ds.label_sets}
    wanted = {k: s.classes for k, s in ds.label_sets.items()}
    configs = (ds.config_name,) if ds.path else entry.configs
    for config in configs:
        seen = {k: set() for k in ds.label_sets}
        for i, raw in enumerate(_stream(ds, entry, config)):
            if i >= ds.max_rows:
                break
            for row in (entry.rows(raw, config) if entry.rows else [raw]):
                missing = [c for c in (entry.text_column, *(s.column for s in ds.label_sets.values()))
                           if c not in row]
                if missing:
                    raise KeyError(f"probing data set {ds.name!r}: rows have no column(s) {missing}; "
                                   f"columns: {sorted(row)}")
                texts.append(row[entry.text_column])
                for k, s in ds.label_sets.items():
                    value = _class_name(row[s.column])
                    keep = s.classes is None or value in s.classes
                    labels[k].append(value if keep else None)
                    if keep:
                        counts[k][value] = counts[k].get(value, 0) + 1
                        seen[k].add(value)
            # Several configurations (europarl): each holds some classes, done when those are full. One:
            # done when every chosen class is full (classes of an open set are never known to be complete).
            need = seen if len(configs) > 1 else wanted
            if all(need[k] and all(counts[k].get(c, 0) >= per_class for c in need[k]) for k in need):
                break
    return LabelledDocs(ds.name, texts, labels)


def _class_name(value) -> str:
    # Labels are compared as strings: the registry's classes are strings, hub columns are int, float or str.
    return str(value)


def _stream(ds: ProbingDataset, entry: RegistryEntry, config_name: str | None) -> Iterator[dict]:
    import datasets
    path = ds.path or entry.hub_path
    split = ds.split or entry.split
    if ds.data_files and not all(Path(f).exists() for f in ds.data_files):
        raise FileNotFoundError(f"evals.probing.datasets[{ds.name}].data_files: missing "
                                f"{[f for f in ds.data_files if not Path(f).exists()]}")
    try:
        stream = datasets.load_dataset(path, config_name, split=split, streaming=True, data_files=ds.data_files)
        yield from stream
    except (KeyError, FileNotFoundError):
        raise
    except Exception as err:  # hub, cache and builder errors come as many types; all mean "not here"
        elsewhere = (f"or on a machine with network run `hf download --repo-type dataset {entry.hub_path}` and "
                     f"copy the Hugging Face cache here." if entry.hub_path else
                     "or build it with the rule that writes it (docs/offline-data.md).")
        raise ModelNotAvailable(
            f"could not open the probing data set {ds.name!r} ({path!r}, split {split!r}): "
            f"{type(err).__name__}: {one_line(err)}. Offline, give a local copy in the same format: "
            f"evals.probing.datasets: [{{name: {ds.name}, path: json, data_files: [{ds.name}.jsonl]}}] "
            f"(columns {entry.text_column!r} and {sorted({s.column for s in entry.label_sets.values()})}), "
            f"{elsewhere}") from err
