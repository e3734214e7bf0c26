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
    # gt_mcc_std is over seeds and pw_mcc_std over seed pairs, both ddof 1 (saesanity.evals.consistency.validation).
    cols = ["experiment", "source", "distribution", "arch", "d_sae", "n_features", "target_l0", "samples", "final",
            "n_seeds", "gt_mcc", "gt_mcc_std", "pw_mcc", "pw_mcc_std"]
    return pd.DataFrame(rows, columns=cols).sort_values(["distribution", "experiment", "d_sae", "arch", "samples"],
                                                        kind="stable").reset_index(drop=True)


NOISE_SPAN = 4.0
"""A scope's points say something about the correlation only when their GT-MCC spans more than this many
seed standard deviations (the width of one point's 95% band), else they are seed noise around one level."""


def pearson_ci(r: float, n: int, z_crit: float = 1.959964) -> tuple[float, float]:
    """95% confidence interval of a Pearson correlation by Fisher's z transform (n >= 4)."""
    if n < 4 or not np.isfinite(r):
        return np.nan, np.nan
    z, half = np.arctanh(np.clip(r, -0.999999, 0.999999)), z_crit / np.sqrt(n - 3)
    return float(np.tanh(z - half)), float(np.tanh(z + half))


def correlation_table(points: pd.DataFrame) -> pd.DataFrame:
    """Pearson (with n and a 95% CI) and Spearman correlation of PW-MCC with ground-truth MCC over all points
    and per data set, and the mean of PW-MCC - GT-MCC (arXiv 2505.20254 claims the first tracks the second).
    `informative` says whether the points' GT-MCC spans more than NOISE_SPAN seed standard deviations (ddof 1,
    mean over the points); where it does not, the correlation is over seed noise and `note` says so."""
    rows = []
    scopes = [("all", points)] + [(dist, g) for dist, g in points.groupby("distribution", sort=True)]
    for scope, g in scopes:
        enough = len(g) >= 3 and g.gt_mcc.nunique() > 1 and g.pw_mcc.nunique() > 1
        r = g.pw_mcc.corr(g.gt_mcc) if enough else np.nan
        span = float(g.gt_mcc.max() - g.gt_mcc.min()) if len(g) else np.nan
        seed_std = float(g.gt_mcc_std.mean()) if "gt_mcc_std" in g and len(g) else 0.0
        informative = bool(enough and span > NOISE_SPAN * seed_std)
        note = "" if informative else (f"GT-MCC spans {span:.3f}, within {NOISE_SPAN:g} seed stds "
                                       f"({NOISE_SPAN * seed_std:.3f}): seed noise, no correlation to report")
        if scope == "all" and points.distribution.nunique() > 1:
            note = "; ".join(filter(None, [note, "pools data sets whose levels differ: read the rows per data set"]))
        lo, hi = pearson_ci(r, len(g))
        rows.append({"scope": scope, "n_points": len(g), "pearson_r": r, "pearson_ci_low": lo,
                     "pearson_ci_high": hi,
                     "spearman_r": g.pw_mcc.corr(g.gt_mcc, method="spearman") if enough else np.nan,
                     "mean_pw_minus_gt": float((g.pw_mcc - g.gt_mcc).mean()) if len(g) else np.nan,
                     "gt_mcc_span": span, "gt_mcc_seed_std": seed_std, "informative": informative, "note": note})
    return pd.DataFrame(rows)


def validation_tables(files: Sequence[str], out: str | Path, correlation_out: str | Path) -> None:
    """validation.csv (`out`) and validation_correlation.csv (`correlation_out`)."""
    points = validation_table(files)
    write_csv(points, Path(out))
    write_csv(correlation_table(points), Path(correlation_out))
