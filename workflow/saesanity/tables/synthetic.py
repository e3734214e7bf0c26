"""Tidy tables of the synthetic experiment (one row per SAE and metric) with the paper's number beside ours,
and the per-feature recovery table."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import read_json
from saesanity.data.synthetic import read_features, read_settings
from saesanity.paper import synthetic_paper_value, synthetic_setting_matches
from saesanity.pipeline.paths import synthetic_dist
from saesanity.tables.tidy import (CORE, consistency_rows, metric_rows, with_paper_values, with_seed_aggregates,
                                   write_csv)

PER_SAE = {"core": CORE, "recovery": ["recovered_fraction", "recovered_count", "gt_mcc"]}
KEY = ["source", "distribution", "arch", "variant"]


def _rows(eval_name: str, files: Sequence[str]) -> list[dict]:
    """metric_rows with the source's data set (`distribution`), part of this table's key."""
    return [{**r, "distribution": synthetic_dist(r["source"])}
            for r in metric_rows(eval_name, files, [(m, m) for m in PER_SAE[eval_name]])]


def _by_distribution(features: Sequence[str]) -> dict[str, str]:
    """features.parquet path per distribution name (results/synthetic/<dist>/features.parquet)."""
    return {Path(f).parent.name: f for f in features}


def synthetic_table(core: Sequence[str], recovery: Sequence[str], consistency: Sequence[str],
                    features: Sequence[str]) -> pd.DataFrame:
    per_sae = pd.DataFrame(_rows("core", core) + _rows("recovery", recovery))
    across = [{**r, "distribution": synthetic_dist(r["source"])} for r in consistency_rows(consistency)]
    table = with_seed_aggregates(per_sae, across, KEY)
    settings = {dist: read_settings(f) for dist, f in _by_distribution(features).items()}
    return with_paper_values(table, KEY, lambda r: synthetic_paper_value(
        synthetic_setting_matches(settings[r.distribution], r.d_sae, r.target_l0), r.arch, r.variant, r.metric))


def feature_table(recovery: Sequence[str], features: Sequence[str]) -> pd.DataFrame:
    """One row per (SAE, true feature): its firing probability and best decoder cosine (Eq. 6)."""
    probs = {dist: read_features(f)[1] for dist, f in _by_distribution(features).items()}
    frames = []
    for f in recovery:
        m = read_json(f)
        dist = synthetic_dist(m["source"])
        frames.append(pd.DataFrame({"distribution": dist, "arch": m["arch"], "variant": m["variant"],
                                    "seed": m["seed"], "feature": np.arange(m["n_features"]),
                                    "p": probs[dist], "max_cos": m["max_cos"]}))
    return pd.concat(frames, ignore_index=True).sort_values(
        ["distribution", "arch", "variant", "seed", "feature"], kind="stable")


def synthetic_tables(core: Sequence[str], recovery: Sequence[str], consistency: Sequence[str],
                     features: Sequence[str], out: str | Path, features_out: str | Path) -> None:
    """synthetic.csv (`out`) and synthetic_features.csv (`features_out`)."""
    write_csv(synthetic_table(core, recovery, consistency, features), Path(out))
    write_csv(feature_table(recovery, features), Path(features_out))
