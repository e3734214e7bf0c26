"""Atomic outputs: a job writes to a temporary name beside the target and renames at the end, so a killed
job never leaves a file or folder that looks finished (docs/design.md, Principles)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yields a temporary path for a file or folder; renames it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A writer killed mid-way (SIGKILL, lost node) left its temporary under its own pid; the rerun clears it.
    # Snakemake runs one job per output, so no live writer owns another temporary of this path.
    for stale in path.parent.glob(f".{path.name}.tmp-*"):
        _remove(stale)
    tmp = _tmp_name(path)
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def write_json(path: str | Path, obj: Any) -> None:
    """Canonical JSON (sorted keys) so that a rerun writes the same bytes. NaN is refused: a metric that is
    NaN is a bug to surface, and NaN is not JSON."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=1, sort_keys=True, allow_nan=False) + "\n")


def write_csv_rows(path: str | Path, rows: list[dict[str, Any]], fields: list[str]) -> None:
    """Rows as CSV, floats to 6 significant digits (the tables' precision), written atomically."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text())
