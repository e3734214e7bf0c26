"""The Parquet activation store: checks on open, chunked reading, the seeded shuffle."""

from __future__ import annotations

import json
import threading

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import write_store

from saesanity.data.prefetch import prefetched
from saesanity.data.store import ActivationStore, ShardWriter, StoreError, act_column, shuffled_batches


def _rows(batches) -> np.ndarray:
    """Row indices (column 0 of the indexed store) of a list of batches."""
    return np.concatenate([b[:, 0] for b in batches]).astype(np.int64)


def test_open_reads_meta(indexed_store):
    assert indexed_store.count == 512 and indexed_store.d == 4
    assert len(indexed_store.shards) == 5  # 4 x 120 + 32
    x = indexed_store.read_all()
    np.testing.assert_array_equal(x[:, 0], np.arange(512))
    assert indexed_store.read_all(limit=130).shape == (130, 4)
    chunks = list(indexed_store.iter_chunks(chunk_rows=50))
    assert max(len(c) for c in chunks) <= 50
    np.testing.assert_array_equal(np.concatenate(chunks), x)


def test_open_without_meta(tmp_path):
    writer = ShardWriter(tmp_path, 4, "float32")
    writer.write(np.zeros((10, 4), np.float32))  # never closed: no meta.json
    with pytest.raises(StoreError, match="meta.json"):
        ActivationStore.open(tmp_path)
    with pytest.raises(StoreError, match="meta.json"):
        ActivationStore.open(tmp_path / "does-not-exist")


def test_open_count_mismatch(indexed_store):
    meta_path = indexed_store.folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    meta["count"] = 500
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match=r"500.*512"):
        ActivationStore.open(indexed_store.folder)


def test_open_missing_shard(indexed_store):
    indexed_store.shards[-1].unlink()
    with pytest.raises(StoreError, match="512"):
        ActivationStore.open(indexed_store.folder)


def test_open_meta_without_d(tmp_path, indexed_store):
    meta_path = indexed_store.folder / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["d"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="'d'"):
        ActivationStore.open(indexed_store.folder)


def test_open_no_shards(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"d": 4, "count": 0}))
    with pytest.raises(StoreError, match="no shard"):
        ActivationStore.open(tmp_path)


def test_wrong_column_name(tmp_path):
    table = pa.table({"activations": act_column(np.zeros((8, 4), np.float32))})
    pq.write_table(table, tmp_path / "shard-00000.parquet")
    (tmp_path / "meta.json").write_text(json.dumps({"d": 4, "count": 8}))
    # Open checks counts only; the column is checked when reading. Either way the error names 'act'.
    with pytest.raises(StoreError, match="'act'"):
        ActivationStore.open(tmp_path).read_all()


def test_wrong_column_type(tmp_path):
    table = pa.table({"act": pa.array(np.zeros(8, np.float32))})
    pq.write_table(table, tmp_path / "shard-00000.parquet")
    (tmp_path / "meta.json").write_text(json.dumps({"d": 4, "count": 8}))
    with pytest.raises(StoreError, match="fixed-size list"):
        ActivationStore.open(tmp_path).read_all()


def test_wrong_width(tmp_path):
    write_store(tmp_path, np.zeros((8, 4), np.float32), shard_rows=8)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["d"] = 5
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(StoreError, match="length 5"):
        ActivationStore.open(tmp_path).read_all()


def test_writer_rejects_wrong_shape(tmp_path):
    writer = ShardWriter(tmp_path, 4, "float32")
    with pytest.raises(StoreError, match=r"\[N, 4\]"):
        writer.write(np.zeros((3, 5), np.float32))


def test_extra_columns_kept(tmp_path):
    writer = ShardWriter(tmp_path, 2, "float16", {"model": "m", "hook": "h"})
    writer.write(np.ones((3, 2), np.float32), doc=np.array([0, 0, 1]), pos=np.array([0, 1, 0]))
    writer.close()
    store = ActivationStore.open(tmp_path)
    assert store.meta["model"] == "m" and store.meta["dtype"] == "float16" and store.count == 3
    assert pq.read_table(store.shards[0]).column_names == ["act", "doc", "pos"]
    np.testing.assert_array_equal(store.read_all(), np.ones((3, 2), np.float32))


@pytest.mark.parametrize("buffer_rows", [64, 10_000])
def test_shuffle_is_one_permutation_per_pass(indexed_store, buffer_rows):
    batches = list(shuffled_batches(indexed_store, 32, buffer_rows, seed=0, n_samples=512))
    assert len(batches) == 512 // 32
    assert all(b.shape == (32, 4) and b.dtype == np.float32 for b in batches)
    rows = _rows(batches)
    np.testing.assert_array_equal(np.sort(rows), np.arange(512))
    assert not np.array_equal(rows, np.arange(512))  # actually shuffled
    # Rows keep their content: the other columns move with the index.
    x = indexed_store.read_all()
    np.testing.assert_array_equal(np.concatenate(batches), x[rows])


def _concatenating_shuffle(store, batch_size, buffer_rows, seed, n_samples):
    """The shuffle as first written (each chunk concatenated onto the buffer): the data order every
    trained SAE so far has seen, which the in-place buffer must keep row for row."""
    rng = np.random.default_rng(seed)
    n_batches, buffer_rows, produced = n_samples // batch_size, max(buffer_rows, 2 * batch_size), 0
    while produced < n_batches:
        buf = np.empty((0, store.d), np.float32)
        for chunk in store.iter_chunks(chunk_rows=batch_size, shard_order=rng.permutation(len(store.shards))):
            buf = np.concatenate([buf, chunk])
            if len(buf) < buffer_rows:
                continue
            buf = buf[rng.permutation(len(buf))]
            n_out = (len(buf) - buffer_rows // 2) // batch_size
            for b in range(n_out):
                yield buf[b * batch_size:(b + 1) * batch_size]
                produced += 1
                if produced == n_batches:
                    return
            buf = buf[n_out * batch_size:]
        buf = buf[rng.permutation(len(buf))]
        for b in range(len(buf) // batch_size):
            yield buf[b * batch_size:(b + 1) * batch_size]
            produced += 1
            if produced == n_batches:
                return


@pytest.mark.parametrize("batch_size, buffer_rows, n_samples", [(32, 64, 3 * 512 + 100), (48, 100, 1000),
                                                               (32, 10_000, 1100), (7, 50, 600), (64, 200, 2048)])
def test_shuffle_keeps_the_concatenating_order(indexed_store, batch_size, buffer_rows, n_samples):
    new = list(shuffled_batches(indexed_store, batch_size, buffer_rows, [5, 1], n_samples))
    old = list(_concatenating_shuffle(indexed_store, batch_size, buffer_rows, [5, 1], n_samples))
    assert len(new) == len(old) == n_samples // batch_size
    for a, b in zip(new, old):
        assert a.flags.c_contiguous and a.dtype == np.float32
        np.testing.assert_array_equal(a, b)


def test_shuffle_deterministic_per_seed(indexed_store):
    a = list(shuffled_batches(indexed_store, 32, 64, seed=3, n_samples=512))
    b = list(shuffled_batches(indexed_store, 32, 64, seed=3, n_samples=512))
    c = list(shuffled_batches(indexed_store, 32, 64, seed=4, n_samples=512))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(_rows(a), _rows(c))
    # Seeds can be sequences (the trainer passes [seed, stream]).
    d = list(shuffled_batches(indexed_store, 32, 64, seed=[3, 1], n_samples=512))
    assert not np.array_equal(_rows(a), _rows(d))


def test_shuffle_batch_count_and_shape(indexed_store):
    batches = list(shuffled_batches(indexed_store, 48, 100, seed=0, n_samples=300))
    assert len(batches) == 300 // 48
    assert all(b.shape == (48, 4) for b in batches)
    rows = _rows(batches)
    assert len(np.unique(rows)) == len(rows)  # within one pass, no row twice


def test_shuffle_loops_over_the_store(indexed_store):
    batches = list(shuffled_batches(indexed_store, 32, 64, seed=0, n_samples=3 * 512 + 100))
    assert len(batches) == (3 * 512 + 100) // 32
    rows = _rows(batches)
    for p in range(3):
        np.testing.assert_array_equal(np.sort(rows[p * 512:(p + 1) * 512]), np.arange(512))
    # Every pass is reshuffled.
    assert not np.array_equal(rows[:512], rows[512:1024])
    # The partial fourth pass has no repeats.
    assert len(np.unique(rows[3 * 512:])) == len(rows) - 3 * 512


def test_shuffle_store_smaller_than_batch(tmp_path):
    store = write_store(tmp_path, np.zeros((10, 4), np.float32), shard_rows=10)
    with pytest.raises(StoreError, match="fewer than one batch"):
        list(shuffled_batches(store, 32, 64, seed=0, n_samples=64))


def test_prefetched_keeps_order_raises_and_stops():
    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def failing():
        yield 1
        raise StoreError("bad shard")

    it = prefetched(failing())
    assert next(it) == 1
    with pytest.raises(StoreError, match="bad shard"):
        next(it)
    # Other tests' generators may still hold reader threads until they are collected: look at this one's only.
    before = set(threading.enumerate())
    it = prefetched(iter(range(1000)), depth=2)
    assert next(it) == 0
    it.close()  # early stop: the reader thread ends instead of blocking on a full queue
    assert not any(t.name == "saesanity-prefetch" for t in set(threading.enumerate()) - before)
