"""Tidy tables (one row per SAE and metric) with the paper's number beside ours."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json
from saesanity.data.synthetic import read_features, read_settings
from saesanity.paper import synthetic_paper_value, synthetic_setting_matches
from saesanity.pipeline.paths import SYNTHETIC_PREFIX

PER_SAE = {"core": ["explained_variance", "l0", "dead_fraction"],
           "recovery": ["recovered_fraction", "recovered_count", "gt_mcc"]}
KEY = ["source", "distribution", "arch", "variant"]


def write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def _distribution(source: str) -> str:
    return source.removeprefix(SYNTHETIC_PREFIX)


def _rows(files: Sequence[str], metrics: list[str]) -> list[dict]:
    rows = []
    for f in files:
        m = read_json(f)
        for metric in metrics:
            rows.append({"source": m["source"], "distribution": _distribution(m["source"]), "arch": m["arch"],
                         "variant": m["variant"], "seed": str(m["seed"]), "d_sae": m["d_sae"],
                         "target_l0": m["target_l0"], "metric": metric, "value": float(m[metric])})
    return rows


def _by_distribution(features: Sequence[str]) -> dict[str, str]:
    """features.parquet path per distribution name (results/synthetic/<dist>/features.parquet)."""
    return {Path(f).parent.name: f for f in features}


def consistency_rows(files: Sequence[str]) -> list[dict]:
    """Across-seed rows (seed 'all'): PW-MCC with its std over pairs, the certificate's largest gap over pairs
    (0 for the exact matching), and the shared-latent fraction; `init` says whether the seeds shared their
    random initial dictionary, which decides what PW-MCC of a random baseline measures."""
    rows = []
    for f in files:
        m = read_json(f)
        shared = m["pair_shared_fraction"]
        common = {"source": m["source"], "distribution": _distribution(m["source"]), "arch": m["arch"],
                  "variant": m["variant"], "seed": "all", "n_seeds": len(m["seeds"]), "init": m["init"]}
        rows += [{**common, "metric": "pw_mcc", "value": m["pw_mcc"], "std": m["pw_mcc_std"]},
                 {**common, "metric": "pw_mcc_gap", "value": m["max_gap"]},
                 {**common, "metric": "shared_fraction", "value": m["shared_fraction"],
                  "std": float(np.std(shared, ddof=1)) if len(shared) > 1 else np.nan}]
    return rows


def with_seed_aggregates(per_sae: pd.DataFrame, consistency: Sequence[str], key: list[str]) -> pd.DataFrame:
    """The per-SAE rows, their mean over seeds (seed 'mean', with std and n_seeds), and the across-seed rows
    of `consistency` (seed 'all'), which take d_sae and target_l0 from the SAEs they compare."""
    # A key may itself hold target_l0 (an L0 sweep): each column once in the grouping.
    means = (per_sae.groupby(list(dict.fromkeys(key + ["d_sae", "target_l0", "metric"])), sort=False)["value"]
             .agg(value="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan,
                  n_seeds="count").reset_index())
    means["seed"] = "mean"
    table = pd.concat([per_sae, means, pd.DataFrame(consistency_rows(consistency))], ignore_index=True)
    table["init"] = table["init"].fillna("") if "init" in table else ""
    for col in ("d_sae", "target_l0"):
        table[col] = table.groupby(key)[col].transform("first")
    return table


def with_paper_values(table: pd.DataFrame, key: list[str], paper_value: Callable) -> pd.DataFrame:
    """The tidy table's columns and order, with the paper's number (`paper_value(row)`: a PaperValue or None)
    beside each seed mean."""
    paper = [paper_value(r) if r.seed == "mean" else None for r in table.itertuples()]
    table["paper_value"] = [p.value if p else np.nan for p in paper]
    table["paper_note"] = [p.note if p else "" for p in paper]
    cols = list(dict.fromkeys(key + ["seed", "d_sae", "target_l0", "metric", "value", "std", "n_seeds", "init",
                                     "paper_value", "paper_note"]))
    return table[cols].sort_values(key + ["metric", "seed"], kind="stable").reset_index(drop=True)


def synthetic_table(core: Sequence[str], recovery: Sequence[str], consistency: Sequence[str],
                    features: Sequence[str]) -> pd.DataFrame:
    per_sae = pd.DataFrame(_rows(core, PER_SAE["core"]) + _rows(recovery, PER_SAE["recovery"]))
    table = with_seed_aggregates(per_sae, consistency, KEY)
    settings = {dist: read_settings(f) for dist, f in _by_distribution(features).items()}
    return with_paper_values(table, KEY, lambda r: synthetic_paper_value(
        synthetic_setting_matches(settings[r.distribution], r.d_sae, r.target_l0), r.arch, r.variant, r.metric))


def feature_table(recovery: Sequence[str], features: Sequence[str]) -> pd.DataFrame:
    """One row per (SAE, true feature): its firing probability and best decoder cosine (Eq. 6)."""
    probs = {dist: read_features(f)[1] for dist, f in _by_distribution(features).items()}
    frames = []
    for f in recovery:
        m = read_json(f)
        dist = _distribution(m["source"])
        frames.append(pd.DataFrame({"distribution": dist, "arch": m["arch"], "variant": m["variant"],
                                    "seed": m["seed"], "feature": np.arange(m["n_features"]),
                                    "p": probs[dist], "max_cos": m["max_cos"]}))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["distribution", "arch", "variant", "seed", "feature"], kind="stable")


def synthetic_tables(core: Sequence[str], recovery: Sequence[str], consistency: Sequence[str],
                     features: Sequence[str], out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    write_csv(synthetic_table(core, recovery, consistency, features), out_dir / "synthetic.csv")
    write_csv(feature_table(recovery, features), out_dir / "synthetic_features.csv")


def validation_table(files: Sequence[str]) -> pd.DataFrame:
    """One row per point of the validation experiment (one group of seeds at one training stage)."""
    rows = []
    for f in files:
        m = read_json(f)
        for p in m["points"]:
            rows.append({"experiment": m.get("experiment", ""), "source": m["source"],
                         "distribution": _distribution(m["source"]), "arch": m["arch"],
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


def validation_tables(files: Sequence[str], out_dir: str | Path) -> None:
    out_dir = Path(out_dir)
    points = validation_table(files)
    write_csv(points, out_dir / "validation.csv")
    write_csv(correlation_table(points), out_dir / "validation_correlation.csv")
