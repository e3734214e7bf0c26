"""Harvesting: a language model's activations at one hook, over a stream of documents, into an activation
store (docs/design.md, Contracts: columns `act`, `doc`, `pos`, `token_id`; meta.json with model, hook, d,
dtype, count). The BOS position is left out (its activation is a constant outlier that carries no text);
padding never reaches the store. So are positions with massive activations (Sun et al. 2024, "Massive
Activations in Large Language Models", arXiv 2402.17762): a few tokens, e.g. the first delimiter of a
document, whose residual norm is tens of times the median (on SmolLM2 at layer 12: 6,601 and 12,486 against
a median of 142). One such row outweighs the rest of an EV's denominator and makes a gradient step of its
own, so the SAE neither trains nor is scored on them; meta.json lists them (`outlier_rows`), so their tokens
stay known (saesanity.evals.lm_loss rebuilds held-out documents whole and leaves those positions clean). Documents are read, run and written in batches, so memory is one batch of
documents plus one shard of rows, whatever the corpus size; the store appears only when complete.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.store import ShardWriter
from saesanity.lm.model import LanguageModel, pad_batch


@dataclass(frozen=True)
class HarvestConfig:
    """How much to harvest and how to write it."""

    n_tokens: int = 409_600
    """Stop after the document that reaches this many rows (BOS excluded)."""
    batch_docs: int = 64
    """Documents per forward pass."""
    shard_rows: int = 131_072
    dtype: str = "float32"
    """Storage dtype of `act`."""
    outlier_norm: float | None = 10.0
    """Leave out a position whose activation norm exceeds this multiple of the median norm of its batch's
    positions (massive activations); None keeps every position. `n_tokens` counts positions before this."""

    def __post_init__(self) -> None:
        for key in ("n_tokens", "batch_docs", "shard_rows"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.outlier_norm is None or self.outlier_norm > 1, "outlier_norm",
               f"must be > 1 (a multiple of the median norm) or null, got {self.outlier_norm}")
        _check(self.dtype in ("float32", "float16"), "dtype", f"must be float32 or float16, got {self.dtype!r}")


def token_batches(lm: LanguageModel, docs: Iterable[tuple[int, str]], batch_docs: int,
                  n_tokens: int) -> Iterator[tuple[np.ndarray, list[list[int]]]]:
    """(doc ids, token lists with BOS) in batches, until `n_tokens` non-BOS tokens have been produced."""
    ids, seqs, total = [], [], 0
    for doc_id, text in docs:
        tokens = lm.encode(text)
        if len(tokens) < 2:  # nothing after BOS
            continue
        ids.append(doc_id)
        seqs.append(tokens)
        total += len(tokens) - 1
        if len(seqs) == batch_docs or total >= n_tokens:
            yield np.array(ids, dtype=np.int64), seqs
            ids, seqs = [], []
        if total >= n_tokens:
            return
    if seqs:
        yield np.array(ids, dtype=np.int64), seqs


def rows_of_batch(act_BTD: np.ndarray, doc_ids: np.ndarray, seqs: list[list[int]],
                  outlier_norm: float | None = None) -> tuple[dict[str, np.ndarray], list[dict]]:
    """The non-BOS, non-pad positions of a batch, flattened in (document, position) order, and those of
    them left out as outliers (norm above `outlier_norm` times the median over the batch's positions):
    doc, pos, token_id and norm of each."""
    lengths = np.array([len(s) for s in seqs])
    T = act_BTD.shape[1]
    mask_BT = (np.arange(T)[None, :] < lengths[:, None]) & (np.arange(T)[None, :] > 0)
    tokens_BT = np.zeros((len(seqs), T), dtype=np.int32)
    for i, s in enumerate(seqs):
        tokens_BT[i, : len(s)] = s
    doc_BT = np.broadcast_to(doc_ids[:, None], mask_BT.shape)
    pos_BT = np.broadcast_to(np.arange(T, dtype=np.int32)[None, :], mask_BT.shape)
    outliers: list[dict] = []
    if outlier_norm is not None and mask_BT.any():
        norm_BT = np.linalg.norm(act_BTD, axis=-1)
        out_BT = mask_BT & (norm_BT > outlier_norm * np.median(norm_BT[mask_BT]))
        outliers = [{"doc": int(d), "pos": int(p), "token_id": int(t), "norm": round(float(n), 1)}
                    for d, p, t, n in zip(doc_BT[out_BT], pos_BT[out_BT], tokens_BT[out_BT], norm_BT[out_BT])]
        mask_BT = mask_BT & ~out_BT
    return {"act": act_BTD[mask_BT], "doc": doc_BT[mask_BT], "pos": pos_BT[mask_BT],
            "token_id": tokens_BT[mask_BT]}, outliers


class RowBuffer:
    """Collects rows and hands ShardWriter full shards of exactly `shard_rows` rows (the last may be short)."""

    def __init__(self, writer: ShardWriter, shard_rows: int):
        self.writer, self.shard_rows = writer, shard_rows
        self.parts: list[dict[str, np.ndarray]] = []
        self.n = 0

    def add(self, rows: dict[str, np.ndarray]) -> None:
        self.parts.append(rows)
        self.n += len(rows["act"])
        while self.n >= self.shard_rows:
            self._flush(self.shard_rows)

    def _flush(self, n: int) -> None:
        joined = {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}
        self.writer.write(joined["act"][:n], **{k: v[:n] for k, v in joined.items() if k != "act"})
        rest = {k: v[n:] for k, v in joined.items()}
        self.parts, self.n = ([rest] if len(rest["act"]) else []), len(rest["act"])

    def close(self) -> None:
        if self.n:
            self._flush(self.n)
        self.writer.close()


@torch.no_grad()
def harvest(lm: LanguageModel, hook: str, docs: Iterable[tuple[int, str]], out: str | Path,
            cfg: HarvestConfig, meta: dict | None = None) -> int:
    """Writes the activations at `hook` for `docs` ((doc id, text) pairs, in order) as a store at `out`;
    returns the row count."""
    lm.check_hook(hook)
    lm.model.eval()
    with atomic_path(out) as tmp:
        writer = ShardWriter(tmp, lm.d_model, cfg.dtype,
                             {"model": lm.name, "hook": hook, "n_ctx": lm.n_ctx, "bos_excluded": True,
                              **(meta or {})})
        buffer = RowBuffer(writer, cfg.shard_rows)
        outliers: list[dict] = []
        progress = tqdm(total=cfg.n_tokens, desc=f"harvest {hook}", mininterval=10, unit="tok")
        for doc_ids, seqs in token_batches(lm, docs, cfg.batch_docs, cfg.n_tokens):
            act_BTD = lm.activations(pad_batch(seqs, lm.pad_id), hook).float().cpu().numpy()
            rows, left_out = rows_of_batch(act_BTD, doc_ids, seqs, cfg.outlier_norm)
            buffer.add(rows)
            outliers += left_out
            progress.update(len(rows["act"]) + len(left_out))
        progress.close()
        writer.meta.update(outlier_norm=cfg.outlier_norm, outlier_rows=outliers)
        if buffer.n == 0 and writer.count == 0:
            raise ValueError(f"harvest {hook}: the document stream produced no tokens")
        buffer.close()
    return writer.count
