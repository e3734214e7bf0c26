"""Tables of the PW-MCC validation: one row per point (a group of seeds at one training stage) and the
correlation of PW-MCC with ground-truth MCC."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import read_json
from saesanity.pipeline.paths import synthetic_dist
from saesanity.tables.tidy import write_csv


def validation_table(files: Sequence[str]) -> pd.DataFrame:
    """One row per point of the validation experiment (one group of seeds at one training stage)."""
    rows = []
    for f in files:
        m = read_json(f)
        for p in m["points"]:
            rows.append({"experiment": m.get("experiment", ""), "source": m["source"],
                         "distribution": synthetic_dist(m["source"]), "arch": m["arch"],
                         "d_sae": m["d_sae"], "n_features": m["n_features"], "target_l0": m["target_l0"],
                         "samples": p["samples"], "final": p["final"], "n_seeds": len(m["seeds"]),
                         "gt_mcc": p["gt_mcc"], "gt_mcc_std": p["gt_mcc_std"],
                         "pw_mcc": p["pw_mcc"], "pw_mcc_std": p["pw_mcc_std"]})
    cols = ["experiment", "source", "distribution", "arch", "d_sae", "n_features", "target_l0", "samples", "final",
            "n_seeds", "gt_mcc", "gt_mcc_std", "pw_mcc", "pw_mcc_std"]
    return pd.DataFrame(rows, columns=cols).sort_values(["distribution", "experiment", "d_sae", "arch", "samples"],
                                                        kind="stable").reset_index(drop=True)


def correlation_table(points: pd.DataFrame) -> pd.DataFrame:
    """Pearson and Spearman correlation of PW-MCC with ground-truth MCC over all points and per data set,
    and the mean of PW-MCC - GT-MCC (arXiv 2505.20254 claims the first tracks the second)."""
    rows = []
    scopes = [("all", points)] + [(dist, g) for dist, g in points.groupby("distribution", sort=True)]
    for scope, g in scopes:
        enough = len(g) >= 3 and g.gt_mcc.nunique() > 1 and g.pw_mcc.nunique() > 1
        rows.append({"scope": scope, "n_points": len(g),
                     "pearson_r": g.pw_mcc.corr(g.gt_mcc) if enough else np.nan,
                     "spearman_r": g.pw_mcc.corr(g.gt_mcc, method="spearman") if enough else np.nan,
                     "mean_pw_minus_gt": float((g.pw_mcc - g.gt_mcc).mean()) if len(g) else np.nan})
    return pd.DataFrame(rows)


def validation_tables(files: Sequence[str], out: str | Path, correlation_out: str | Path) -> None:
    """validation.csv (`out`) and validation_correlation.csv (`correlation_out`)."""
    points = validation_table(files)
    write_csv(points, Path(out))
    write_csv(correlation_table(points), Path(correlation_out))
