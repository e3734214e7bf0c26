"""Where a harvest's documents come from: the toy world's corpus, a JSON-lines file of documents (the offline
English text of rule english_text), or a Hugging Face data set streamed with `datasets` (the paper: OpenWebText).
Each yields (doc id, text) pairs in a fixed order."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from saesanity.config import _check
from saesanity.lm.model import ModelNotAvailable, one_line


@dataclass(frozen=True)
class TextSource:
    """A stream of documents."""

    kind: str
    """'toyworld' (documents.parquet of the corpus), 'jsonl' (one {"doc", "text"} object per line) or 'hf'
    (datasets.load_dataset(..., streaming=True))."""
    path: str
    """toyworld: the corpus folder; jsonl: the file; hf: the data set's name (Skylion007/openwebtext) or
    builder ('json')."""
    name: str | None = None
    """hf: the data set's configuration name."""
    split: str = "train"
    """toyworld: 'train' or 'heldout'; hf: the data set's split."""
    column: str = "text"
    data_files: list[str] | None = None
    """hf: local files for builders such as 'json' or 'parquet'."""
    skip_docs: int = 0
    """hf: documents skipped at the start (the held-out stream starts after the training documents)."""

    def __post_init__(self) -> None:
        _check(self.kind in ("toyworld", "jsonl", "hf"), "kind",
               f"must be 'toyworld', 'jsonl' or 'hf', got {self.kind!r}")
        _check(self.skip_docs >= 0, "skip_docs", "must be >= 0")


def documents(src: TextSource) -> Iterator[tuple[int, str]]:
    if src.kind == "toyworld":
        from saesanity.data.toyworld import read_documents
        table = read_documents(src.path, src.split)
        yield from zip(table["doc"].to_pylist(), table["text"].to_pylist())
        return
    if src.kind == "jsonl":
        yield from _jsonl_documents(Path(src.path), src.column)
        return
    yield from _hf_documents(src)


def _jsonl_documents(path: Path, column: str) -> Iterator[tuple[int, str]]:
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such document file (rule english_text writes it)")
    with path.open(encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            row = json.loads(line)
            if column not in row or "doc" not in row:
                raise KeyError(f"{path}:{line_no}: a document needs 'doc' and {column!r}; got {sorted(row)}")
            yield int(row["doc"]), row[column]


def _hf_documents(src: TextSource) -> Iterator[tuple[int, str]]:
    import datasets
    try:
        ds = datasets.load_dataset(src.path, src.name, split=src.split, streaming=True,
                                   data_files=src.data_files)
    except Exception as err:  # hub, cache and builder errors come as many types
        if src.data_files and not all(Path(f).exists() for f in src.data_files):
            raise FileNotFoundError(f"text.data_files: missing {[f for f in src.data_files if not Path(f).exists()]}")
        raise ModelNotAvailable(
            f"could not open the data set {src.path!r} (name {src.name!r}, split {src.split!r}): "
            f"{type(err).__name__}: {one_line(err)}. Offline, stream from local files instead "
            f"(text: {{path: json, data_files: [docs.jsonl]}}), or on a machine with network run "
            f"`hf download --repo-type dataset {src.path}` and copy the Hugging Face cache here.") from err
    for i, row in enumerate(ds):
        if i < src.skip_docs:
            continue
        if src.column not in row:
            raise KeyError(f"data set {src.path!r} has no column {src.column!r}; columns: {sorted(row)}")
        yield i, row[src.column]
