"""Atomic outputs: nothing looks finished unless its writer finished; a rerun clears a killed writer's temporaries."""

from __future__ import annotations

import pytest

from saesanity.atomic import atomic_path


def test_a_failed_writer_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "activations"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.mkdir()
        (tmp / "shard-0.parquet").write_bytes(b"half")
        raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []


def test_a_rerun_clears_what_a_killed_writer_left(tmp_path):
    # What a SIGKILLed writer leaves: its temporary under its own pid (no finally block runs).
    stale_dir = tmp_path / ".activations.tmp-999999"
    stale_dir.mkdir()
    (stale_dir / "shard-0.parquet").write_bytes(b"half")
    (tmp_path / ".features.parquet.tmp-999999").write_bytes(b"half")
    with atomic_path(tmp_path / "activations") as tmp:
        tmp.mkdir()
        (tmp / "shard-0.parquet").write_bytes(b"whole")
    # Only this path's temporaries are cleared; another output's are its own rerun's business.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".features.parquet.tmp-999999", "activations"]
    assert (tmp_path / "activations/shard-0.parquet").read_bytes() == b"whole"
