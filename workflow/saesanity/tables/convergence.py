"""results/tables/convergence.csv: the synthetic convergence study, one row per (run, checkpoint)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from saesanity.atomic import read_json


def convergence_table(files: Sequence[str]) -> pd.DataFrame:
    """One row per point of the convergence study (results/convergence/metrics/<dist>/<arch>/<run>.json):
    the run's axis and value ('base' for the base recipe), samples seen, recovery and EV."""
    rows = []
    for f in files:
        path = Path(f)
        dist, arch, run = path.parent.parent.name, path.parent.name, path.stem
        axis, _, value = run.partition("-")
        m = read_json(f)
        rows += [{"distribution": dist, "arch": arch, "run": run, "axis": axis if value else "base",
                  "value": value, "n_frequent": m["n_frequent"], **p} for p in m["points"]]
    cols = ["distribution", "arch", "run", "axis", "value", "samples", "final", "explained_variance", "l0",
            "dead_fraction", "recovered_count", "recovered_fraction", "recovered_frequent", "n_frequent",
            "mean_max_cos"]
    return pd.DataFrame(rows, columns=cols).sort_values(["distribution", "arch", "run", "samples"],
                                                        kind="stable").reset_index(drop=True)
