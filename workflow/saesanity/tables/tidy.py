"""What every tidy table shares: one row per (SAE, metric) read from the per-SAE metrics JSON, the mean over
seeds, the across-seed rows of consistency.json, the paper's number beside ours, and the CSV writer."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json

IDENTITY = ["source", "arch", "variant", "seed", "d_sae", "target_l0"]
"""The fields of a metrics JSON that name its SAE (saesanity.evals.identity), as table columns."""


class MetricsFileError(ValueError):
    """A metrics JSON lacks a key the table reads; the message names the file and the key."""


def write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def _value(m: dict, key: str, path: str, eval_name: str):
    if key not in m:
        raise MetricsFileError(f"{path}: no key {key!r} (a {eval_name}.json must hold {key!r}; "
                               f"keys present: {sorted(m)})")
    return m[key]


def metric_rows(eval_name: str, files: Sequence[str], columns: Sequence[tuple[str, str]]) -> list[dict]:
    """One row per file and column: the SAE's identity (seed as a string, so that 'mean' and 'all' can join
    it), the metric's name and its value (NaN where the file holds null). `columns` are (key in the file,
    metric in the table) pairs of `eval_name`.json."""
    rows = []
    for f in files:
        m = read_json(f)
        ident = {k: _value(m, k, str(f), eval_name) for k in IDENTITY}
        ident["seed"] = str(ident["seed"])
        for key, metric in columns:
            v = _value(m, key, str(f), eval_name)
            rows.append({**ident, "metric": metric, "value": float("nan") if v is None else float(v)})
    return rows


def consistency_rows(files: Sequence[str]) -> list[dict]:
    """Across-seed rows (seed 'all'): PW-MCC with its std over pairs, the certificate's largest gap over pairs
    (0 for the exact matching), and the shared-latent fraction; `init` says whether the seeds shared their
    random initial dictionary, which decides what PW-MCC of a random baseline measures."""
    rows = []
    for f in files:
        m = read_json(f)
        shared = m["pair_shared_fraction"]
        common = {"source": m["source"], "arch": m["arch"],
                  "variant": m["variant"], "seed": "all", "n_seeds": len(m["seeds"]), "init": m["init"]}
        rows += [{**common, "metric": "pw_mcc", "value": m["pw_mcc"], "std": m["pw_mcc_std"]},
                 {**common, "metric": "pw_mcc_gap", "value": m["max_gap"]},
                 {**common, "metric": "shared_fraction", "value": m["shared_fraction"],
                  "std": float(np.std(shared, ddof=1)) if len(shared) > 1 else np.nan}]
    return rows


def with_seed_aggregates(per_sae: pd.DataFrame, across_seeds: Sequence[dict], key: list[str]) -> pd.DataFrame:
    """The per-SAE rows, their mean over seeds (seed 'mean', with std and n_seeds), and the across-seed rows
    (seed 'all', from consistency_rows), which take d_sae and target_l0 from the SAEs they compare."""
    # A key may itself hold target_l0 (an L0 sweep): each column once in the grouping.
    means = (per_sae.groupby(list(dict.fromkeys(key + ["d_sae", "target_l0", "metric"])), sort=False)["value"]
             .agg(value="mean", std=lambda v: float(np.std(v, ddof=1)) if len(v) > 1 else np.nan,
                  n_seeds="count").reset_index())
    means["seed"] = "mean"
    table = pd.concat([per_sae, means, pd.DataFrame(list(across_seeds))], ignore_index=True)
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
