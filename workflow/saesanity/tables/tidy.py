"""What every tidy table shares: one row per (SAE, metric) read from the per-SAE metrics JSON, the mean over
seeds, the across-seed rows of consistency.json, the paper's number beside ours, and the CSV writer."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json
from saesanity.evals.registry import TRAINING

IDENTITY = ["source", "arch", "variant", "seed", "d_sae", "target_l0"]
"""The fields of a metrics JSON that name its SAE (saesanity.evals.identity), as table columns."""
ABSENT_IS_NULL = frozenset(TRAINING)
"""Keys read as null where a core.json lacks them: an SAE imported by a sanity check, or trained before the
curve existed, has no record of its training."""
CORE = ["explained_variance", "l0", "dead_fraction", "l0_before_calibration", "init_cos_min", "init_cos_mean",
        "cone_moved_fraction", "init_effective_rank", "init_mean_abs_cos", "tokens_seen", "ev_gain_last_quarter",
        "converged"]
"""core.json's metrics in the tables: what eval_core measures, the L0 training alone reached (before the final
calibration), how far training moved the decoder from its random init, how often the Soft-Frozen cone bound,
how spread the initial dictionary was (effective rank, mean |cos| between rows: iso against cov), and how far
training went (TRAINING); from cfg.json's saesanity_training, copied by eval_core; null where it does not
apply."""
CONE_NEVER_BOUND = ("Soft-Frozen cone never bound: the same computation as the trained SAE of this seed, "
                    "so their agreement holds by construction")


class MetricsFileError(ValueError):
    """A metrics JSON lacks a key the table reads; the message names the file and the key."""


def write_csv(df: pd.DataFrame, path: Path) -> None:
    buf = io.StringIO()
    df.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())


def value_of(m: dict, key: str, path: str, eval_name: str):
    """m[key], or m[a][b] for a dotted key 'a.b'; a missing key is a MetricsFileError naming file and key."""
    head, _, rest = key.partition(".")
    if head not in m:
        raise MetricsFileError(f"{path}: no key {head!r} (a {eval_name}.json must hold {key!r}; "
                               f"keys present: {sorted(m)})")
    return value_of(m[head], rest, path, eval_name) if rest else m[head]


def caveat(m: dict) -> str:
    """What weakens the comparisons of one SAE, read off its core.json: an L0 exempted from matching (with
    the config's reason), or a Soft-Frozen decoder whose cone never moved a row."""
    parts = []
    if m.get("l0_exempt"):
        parts.append(f"L0 {m['l0']:.1f} for a target of {m['target_l0']:g}, exempt from matching: {m['l0_exempt']}")
    if m["variant"].startswith("soft_frozen") and m.get("cone_moved_fraction") == 0:
        parts.append(CONE_NEVER_BOUND)
    return "; ".join(parts)


def metric_rows(eval_name: str, files: Sequence[str], columns: Sequence[tuple[str, str]]) -> list[dict]:
    """One row per file and column: the SAE's identity (seed as a string, so that 'mean' and 'all' can join
    it), the metric's name and its value (NaN where the file holds null). `columns` are (key in the file,
    metric in the table) pairs of `eval_name`.json; core.json's rows also carry the SAE's caveat."""
    rows = []
    for f in files:
        m = read_json(f)
        ident = {k: value_of(m, k, str(f), eval_name) for k in IDENTITY}
        ident["seed"] = str(ident["seed"])
        if eval_name == "core":
            ident["caveat"] = caveat(m)
        for key, metric in columns:
            v = None if key in ABSENT_IS_NULL and key not in m else value_of(m, key, str(f), eval_name)
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
    return with_caveats(table, key)


def with_caveats(table: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Every row of an SAE gets its caveat (from its core rows); a seed-mean or across-seed row gets those of
    its seeds."""
    if "caveat" not in table:
        table["caveat"] = ""
    table["caveat"] = table["caveat"].fillna("")
    per_seed = table[table.caveat != ""].drop_duplicates(key + ["seed"]).set_index(key + ["seed"]).caveat
    per_group = per_seed.groupby(level=list(range(len(key)))).agg(lambda c: "; ".join(dict.fromkeys(c)))
    mine = per_seed.reindex(pd.MultiIndex.from_frame(table[key + ["seed"]])).fillna("").to_numpy()
    group_index = pd.MultiIndex.from_frame(table[key]) if len(key) > 1 else pd.Index(table[key[0]])
    group = per_group.reindex(group_index).fillna("").to_numpy()
    table["caveat"] = [g if seed in ("mean", "all") else c for c, g, seed in zip(mine, group, table.seed)]
    return table


def with_paper_values(table: pd.DataFrame, key: list[str], paper_value: Callable) -> pd.DataFrame:
    """The tidy table's columns and order, with the paper's number (`paper_value(row)`: a PaperValue or None)
    beside each seed mean."""
    paper = [paper_value(r) if r.seed == "mean" else None for r in table.itertuples()]
    table["paper_value"] = [p.value if p else np.nan for p in paper]
    table["paper_note"] = [p.note if p else "" for p in paper]
    cols = list(dict.fromkeys(key + ["seed", "d_sae", "target_l0", "metric", "value", "std", "n_seeds", "init",
                                     "paper_value", "paper_note", "caveat"]))
    return table[cols].sort_values(key + ["metric", "seed"], kind="stable").reset_index(drop=True)
