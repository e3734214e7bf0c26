"""Contexts for detection scoring: windows of document tokens around one token of an activation store,
with the tokens' text and, on the toy world, their known concepts.

A store row is (doc, pos, token_id); rows of one document are contiguous and in position order (harvest
writes them so). On the toy world, row (doc, pos) is word `pos - 1` of documents.parquet's document `doc`
(BOS is position 0 and is not stored), so each token carries the corpus's concept tag and value."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from saesanity.data.store import ActivationStore, StoreError

NONE = "none"
TOKEN = "token="
"""Prefix of the token-identity concepts of the concept check."""


@dataclass(frozen=True)
class Context:
    """One window of a document. `acts` (the latent's activation per token) is given to explainers only;
    `concepts` (known concepts per token) exists only where the data has concept tags."""

    tokens: tuple[str, ...]
    concepts: tuple[frozenset[str], ...] | None = None
    acts: tuple[float, ...] | None = None


def token_concepts(tag: str, value: str) -> frozenset[str]:
    """The concepts one toy-world word carries: its tag (`topic:travel`, `attribute:country`) and, where the
    value names more than the tag does, `tag=value` (`attribute:country=egypt`, `entity:city=paris`)."""
    if tag == NONE:
        return frozenset()
    if value and tag.split(":", 1)[-1] != value:
        return frozenset({tag, f"{tag}={value}"})
    return frozenset({tag})


@dataclass(frozen=True)
class StoreIndex:
    """doc, pos and token_id of a store's first rows, and each row's document bounds."""

    doc: np.ndarray
    pos: np.ndarray
    token_id: np.ndarray
    doc_start: np.ndarray
    doc_end: np.ndarray

    @classmethod
    def read(cls, store: ActivationStore, limit: int | None = None) -> StoreIndex:
        cols = ("doc", "pos", "token_id")
        parts, left = [], store.count if limit is None else min(limit, store.count)
        for shard in store.shards:
            if left <= 0:
                break
            names = pq.ParquetFile(shard).schema_arrow.names
            missing = [c for c in cols if c not in names]
            if missing:
                raise StoreError(f"{shard}: no column(s) {missing}; contexts need a language-model store")
            t = pq.read_table(shard, columns=list(cols)).slice(0, left)
            parts.append(t)
            left -= t.num_rows
        t = pa.concat_tables(parts)
        doc = t["doc"].to_numpy()
        if len(doc) > 1 and (np.diff(doc) < 0).any():
            raise StoreError(f"{store.folder}: rows are not in document order")
        starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
        ends = np.r_[starts[1:], len(doc)]
        run = np.repeat(np.arange(len(starts)), ends - starts)
        return cls(doc, t["pos"].to_numpy(), t["token_id"].to_numpy(), starts[run], ends[run])

    def __len__(self) -> int:
        return len(self.doc)

    def windows(self, rows: np.ndarray, before: int, after: int) -> tuple[np.ndarray, np.ndarray]:
        """[start, end) row ranges: `before` tokens before each row to `after` after, within its document."""
        rows = np.asarray(rows, dtype=np.int64)
        return (np.maximum(rows - before, self.doc_start[rows]),
                np.minimum(rows + after + 1, self.doc_end[rows]))


class TokenLabels:
    """Text and concepts of store rows. The toy world reads both from documents.parquet; a Hugging Face
    model has text only, from its tokenizer."""

    def __init__(self, words: dict[int, list[str]] | None = None,
                 concepts: dict[int, list[frozenset[str]]] | None = None, tokenizer=None):
        self._words, self._concepts, self._tokenizer = words, concepts, tokenizer

    @property
    def has_concepts(self) -> bool:
        return self._concepts is not None

    @classmethod
    def from_corpus(cls, documents: str | Path, docs: Sequence[int]) -> TokenLabels:
        """Words and concepts of the documents `docs` of a toy-world documents.parquet."""
        table = pq.read_table(documents, columns=["doc", "words", "concepts", "values"])
        table = table.filter(pc.is_in(table["doc"], pa.array(np.unique(np.asarray(docs, dtype=np.int64)))))
        words, concepts = {}, {}
        for row in table.to_pylist():
            words[row["doc"]] = row["words"]
            concepts[row["doc"]] = [token_concepts(c, v) for c, v in zip(row["concepts"], row["values"])]
        missing = sorted(set(np.unique(docs).tolist()) - set(words))
        if missing:
            raise StoreError(f"{documents}: no document(s) {missing[:5]}... of the activation store; "
                             "store and corpus come from different builds")
        return cls(words, concepts)

    @classmethod
    def from_tokenizer(cls, path: str) -> TokenLabels:
        from transformers import AutoTokenizer
        return cls(tokenizer=AutoTokenizer.from_pretrained(path))

    def _word(self, index: StoreIndex, r: int) -> str:
        if self._words is not None:
            return self._words[int(index.doc[r])][int(index.pos[r]) - 1]
        return self._tokenizer.decode([int(index.token_id[r])])

    def row_concepts(self, index: StoreIndex, rows: np.ndarray, tokens: bool = False) -> list[frozenset[str]]:
        """Each row's concepts; with `tokens`, also its token's identity, `token=<word>` (the concept check:
        a residual stream surely carries which token it is at)."""
        if self._concepts is None:
            raise ValueError("these tokens have no concept tags")
        concepts = [self._concepts[int(index.doc[r])][int(index.pos[r]) - 1] for r in rows]
        if not tokens:
            return concepts
        return [c | {f"{TOKEN}{self._word(index, r)}"} for c, r in zip(concepts, rows)]

    def context(self, index: StoreIndex, start: int, end: int, acts: np.ndarray | None = None) -> Context:
        rows = range(start, end)
        concepts = tuple(self.row_concepts(index, np.arange(start, end))) if self.has_concepts else None
        return Context(tokens=tuple(self._word(index, r) for r in rows), concepts=concepts,
                       acts=None if acts is None else tuple(float(a) for a in acts))
