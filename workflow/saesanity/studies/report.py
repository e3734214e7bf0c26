"""results/studies/'s tables: the width family (EV, L0 and dead latents per width), SAE stitching and
meta-SAEs (arXiv 2502.04878), probing in four regimes (arXiv 2502.16681). The figures drawn from them and the
folder's atomic rename are saesanity.figures.render's."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from saesanity.atomic import read_json
from saesanity.studies.regimes_table import regimes_tables
from saesanity.studies.stitch_tables import meta_rows, stitching_rows
from saesanity.tables.tidy import IDENTITY

WIDTH_METRICS = ("explained_variance", "l0", "dead_fraction", "tokens_seen", "ev_gain_last_quarter")
"""Per member: its core metrics, and how far it trained (tokens) and where on its held-out curve it stopped (the
EV gain over its last quarter: converged where below train.converged_ev_gain)."""


def widths_table(core: Sequence[str]) -> pd.DataFrame:
    """studies_widths.csv: one row per family member and core metric (null where the record lacks it)."""
    rows = []
    for f in core:
        m = read_json(f)
        rows += [{**{k: m[k] for k in IDENTITY}, "metric": name, "value": m.get(name)} for name in WIDTH_METRICS]
    if not rows:
        return pd.DataFrame(columns=[*IDENTITY, "metric", "value"])
    return pd.DataFrame(rows).sort_values(["source", "variant", "d_sae", "metric"], kind="stable")


def studies_tables(core: Sequence[str], stitching: Sequence[str], meta: Sequence[str],
                   regimes_baselines: Sequence[str], regimes: Sequence[str]) -> dict[str, pd.DataFrame]:
    """The tables by name, those with records only (a study without records has no table, and so no
    figure)."""
    stitched, curves = stitching_rows(stitching)
    tidy, quiver = regimes_tables(regimes_baselines, regimes)
    tables = {"studies_widths": widths_table(core), "studies_stitching": stitched,
              "studies_stitching_curves": curves, "studies_meta": meta_rows(meta), "probing_regimes": tidy,
              "probing_regimes_quiver": quiver}
    return {name: table for name, table in tables.items() if len(table)}
