"""Metrics at their ceiling: when the trained SAE and every random baseline score within a hair of a metric's
maximum, the metric cannot tell them apart, and "random matches trained" on it says nothing about the SAEs.
(The issue behind it: CE loss recovered sat at 0.998-1.000 for every row of our default build.)"""

from __future__ import annotations

import pandas as pd

from saesanity.evals.registry import METRICS

METRIC_MAXIMUM: dict[str, float] = {m.name: m.maximum for m in METRICS if m.maximum is not None}
"""The best score of every bounded Table 2 metric (accuracies and fractions recovered; EV by Eq. 5 of arXiv
2602.14111), from saesanity.evals.registry."""
SATURATION_TOLERANCE = 0.01
"""A metric is saturated when every variant's seed mean is within this of its maximum."""
SATURATED_LABEL = "saturated: cannot discriminate"
SATURATED_NOTE = f"{SATURATED_LABEL} (trained and every baseline within {SATURATION_TOLERANCE:g} of the maximum)"


def at_ceiling(metric: str, values) -> bool:
    """Whether every one of `values` (seed means) lies within SATURATION_TOLERANCE of `metric`'s maximum;
    False for a metric with no maximum or a missing value."""
    if metric not in METRIC_MAXIMUM:
        return False
    v = pd.Series(values, dtype=float)
    return bool(len(v) and v.notna().all() and (v >= METRIC_MAXIMUM[metric] - SATURATION_TOLERANCE).all())


def saturated_groups(table: pd.DataFrame, group: list[str]) -> pd.Series:
    """Per `group` (which holds 'metric'), whether the seed means of the trained SAE and of every baseline
    all lie within SATURATION_TOLERANCE of the metric's maximum. False without a trained SAE or without a
    baseline (there is nothing to discriminate), and for a metric with no maximum (L0, CE itself)."""
    means = table[(table.seed == "mean") & table.metric.isin(list(METRIC_MAXIMUM))]

    def saturated(g: pd.DataFrame) -> bool:
        has_both = (g.variant == "trained").any() and (g.variant != "trained").any()
        return has_both and at_ceiling(g.metric.iloc[0], g.value)

    if means.empty:
        return pd.Series(dtype=bool)
    return means.groupby(group, sort=False)[means.columns.tolist()].apply(saturated)


def with_saturation(table: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """`table` with `saturated` (bool) and `saturation_note` on every row of a saturated (key less variant,
    metric) group, seeds included. `key` holds 'variant': the variants are what is compared."""
    group = [k for k in key if k != "variant"] + ["metric"]
    flags = saturated_groups(table, group)
    index = pd.MultiIndex.from_frame(table[group])
    saturated = flags.reindex(index).fillna(False).astype(bool).to_numpy() if len(flags) else False
    table = table.copy()
    table["saturated"] = saturated
    table["saturation_note"] = [SATURATED_NOTE if s else "" for s in table["saturated"]]
    return table
