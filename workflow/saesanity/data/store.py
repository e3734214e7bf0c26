"""Activation shards in Parquet (docs/design.md, Contracts).

A store is a folder of `shard-00000.parquet`, ... each with a column `act` (fixed-size list of float16 or
float32) and optionally more columns, plus `meta.json` (d, dtype, count, and whatever the producer adds).
Reading is chunked, so memory is bounded by the chunk and the shuffle buffer, never by the store's size.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from saesanity.atomic import read_json, write_json

ACT = "act"
META = "meta.json"


class StoreError(ValueError):
    """An activation store is missing, malformed, or disagrees with its meta.json."""


def act_column(x_ND: np.ndarray) -> pa.FixedSizeListArray:
    n, d = x_ND.shape
    return pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(x_ND).reshape(-1)), d)


def column_to_numpy(col: pa.ChunkedArray | pa.Array, d: int, writable: bool = True) -> np.ndarray:
    """A fixed-size-list column as an [N, d] array without a Python loop; with writable=False, a read-only
    view of Arrow's buffer where one exists (no copy)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    if not pa.types.is_fixed_size_list(col.type) or col.type.list_size != d:
        raise StoreError(f"column '{ACT}' must be a fixed-size list of length {d}, got {col.type}")
    return col.flatten().to_numpy(zero_copy_only=False, writable=writable).reshape(-1, d)


class ShardWriter:
    """Writes numbered shards into a folder; `close` writes meta.json last (its presence marks completion)."""

    def __init__(self, folder: Path, d: int, dtype: str, meta: dict[str, Any] | None = None):
        self.folder, self.d, self.dtype = Path(folder), d, dtype
        self.meta = dict(meta or {})
        self.count = 0
        self.n_shards = 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, x_ND: np.ndarray, **columns: np.ndarray) -> None:
        if x_ND.ndim != 2 or x_ND.shape[1] != self.d:
            raise StoreError(f"expected activations of shape [N, {self.d}], got {list(x_ND.shape)}")
        with np.errstate(over="ignore"):  # overflow to inf is caught just below, with a clearer message
            x_ND = x_ND.astype(self.dtype, copy=False)
        if not np.isfinite(x_ND).all():
            raise StoreError(f"activations contain NaN/Inf (as {self.dtype}: |x| > 65504 overflows float16)")
        table = pa.table({ACT: act_column(x_ND), **columns})
        # No statistics and no dictionary: float payloads gain nothing from either and they cost time.
        pq.write_table(table, self.folder / f"shard-{self.n_shards:05d}.parquet",
                       compression="zstd", write_statistics=False, use_dictionary=False)
        self.count += len(x_ND)
        self.n_shards += 1

    def close(self) -> None:
        write_json(self.folder / META, {**self.meta, "d": self.d, "dtype": self.dtype,
                                        "count": self.count, "n_shards": self.n_shards})


@dataclass(frozen=True)
class ActivationStore:
    """A finished store: its shards and meta.json, checked against each other on open."""

    folder: Path
    d: int
    count: int
    shards: tuple[Path, ...]
    meta: dict[str, Any]

    @classmethod
    def open(cls, folder: str | Path) -> ActivationStore:
        folder = Path(folder)
        if not (folder / META).is_file():
            raise StoreError(f"{folder}: no {META}; the store is missing or was not finished")
        meta = read_json(folder / META)
        for key in ("d", "count"):
            if key not in meta:
                raise StoreError(f"{folder / META}: missing key '{key}'")
        shards = tuple(sorted(folder.glob("shard-*.parquet")))
        if not shards:
            raise StoreError(f"{folder}: no shard-*.parquet files")
        rows = sum(pq.ParquetFile(s).metadata.num_rows for s in shards)
        if rows != meta["count"]:
            raise StoreError(f"{folder}: meta.json says {meta['count']} rows, shards hold {rows}")
        return cls(folder, int(meta["d"]), int(meta["count"]), shards, meta)

    def iter_chunks(self, chunk_rows: int = 65_536, shard_order: np.ndarray | None = None,
                    limit: int | None = None, writable: bool = True) -> Iterator[np.ndarray]:
        """Yields float32 [n, d] chunks in shard order (or `shard_order`), at most `limit` rows in all;
        writable=False lets a float32 chunk be a read-only view of the decoded Parquet page (one copy fewer,
        for a reader that copies the rows anyway)."""
        order = range(len(self.shards)) if shard_order is None else shard_order
        left = self.count if limit is None else limit
        for i in order:
            pf = pq.ParquetFile(self.shards[i])
            if ACT not in pf.schema_arrow.names:
                raise StoreError(f"{self.shards[i]}: no column '{ACT}'")
            for batch in pf.iter_batches(batch_size=chunk_rows, columns=[ACT]):
                x = column_to_numpy(batch.column(0), self.d, writable).astype(np.float32, copy=False)
                if left <= len(x):
                    yield x[:left]
                    return
                left -= len(x)
                yield x

    def read_all(self, limit: int | None = None) -> np.ndarray:
        return np.concatenate(list(self.iter_chunks(limit=limit)))


def shuffled_batches(store: ActivationStore, batch_size: int, buffer_rows: int, seed: int,
                     n_samples: int) -> Iterator[np.ndarray]:
    """Yields `n_samples // batch_size` batches: each pass over the store visits the shards in a seeded
    order and mixes rows through a seeded buffer; the next pass reshuffles. Same seed, same batches."""
    rng = np.random.default_rng(seed)
    n_batches = n_samples // batch_size
    buffer_rows = max(buffer_rows, 2 * batch_size)
    produced = 0
    # The rows waiting to be shuffled are buf[:n], in arrival order. Chunks (at most batch_size rows) are
    # copied into place, and a batch is gathered straight from the buffer through the permutation: each row
    # is written a few times in all. Concatenating each chunk onto the buffer instead copied the whole
    # buffer per chunk, which cost more than the training step at d 576. The batches are the same rows in
    # the same order as that form's (tests/test_store.py keeps it as the reference).
    buf = np.empty((buffer_rows + batch_size, store.d), np.float32)
    while produced < n_batches:
        n = 0
        for chunk in store.iter_chunks(chunk_rows=batch_size, shard_order=rng.permutation(len(store.shards)),
                                       writable=False):
            buf[n:n + len(chunk)] = chunk
            n += len(chunk)
            if n < buffer_rows:
                continue
            perm = rng.permutation(n)
            # Emit all but half a buffer, so later rows still mix with earlier ones.
            n_out = (n - buffer_rows // 2) // batch_size
            for b in range(n_out):
                yield buf[perm[b * batch_size:(b + 1) * batch_size]]  # a new array: buf is overwritten later
                produced += 1
                if produced == n_batches:
                    return
            rest = perm[n_out * batch_size:]
            buf[:len(rest)] = buf[rest]  # the gather makes a copy first, so the overlap is safe
            n = len(rest)
        perm = rng.permutation(n)
        for b in range(n // batch_size):
            yield buf[perm[b * batch_size:(b + 1) * batch_size]]
            produced += 1
            if produced == n_batches:
                return
        if store.count < batch_size:
            raise StoreError(f"{store.folder}: {store.count} rows, fewer than one batch of {batch_size}")
