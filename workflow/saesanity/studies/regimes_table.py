"""Tables of probing in four regimes, and the quiver of arrows of arXiv 2502.16681 (Kantamneni et al.,
fig. "quiver"): per task and setting, the baseline with the best validation AUC gives the baseline's test
AUC; the method with the best validation AUC among the baselines and the SAE's probes gives the test AUC
with the SAE; the arrow is the difference. An SAE probe is selected only when its validation AUC is
strictly higher than every baseline's (ties go to the baselines: the SAE has to earn its place), and among
equal validation AUCs the method listed first wins.

- tidy table: one row per source (the baselines, or one SAE), regime, value and method: mean and standard
  deviation over tasks and repeats of the test AUC, mean validation AUC, and the count; a row per regime
  that was not available (method '', note 'not available: ...');
- quiver table: per SAE, regime and value (and 'all' values of a regime): mean best-baseline test AUC, mean
  best-with-SAE test AUC, mean improvement, the fraction of settings where an SAE probe is selected, and the
  fraction where it is selected and improves the test AUC.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import read_json

SETTING = ["dataset", "task", "regime", "value", "repeat"]
IDENTITY = ["kind", "source", "arch", "variant", "seed", "target_l0", "d_sae"]


def _value(v) -> str:
    """A setting's value as one string: scarcity sizes as integers, fractions as given, shifts as 'A->B'."""
    if isinstance(v, float) and v.is_integer() and v > 1:
        return str(int(v))
    return str(v)


def records_frame(result: dict) -> pd.DataFrame:
    """One probe job's records with its identity columns (empty for the baselines)."""
    df = pd.DataFrame(result["records"])
    if df.empty:
        df = pd.DataFrame(columns=[*SETTING, "method", "val_auc", "test_auc"])
    df["value"] = [_value(v) for v in df["value"]]
    for key in IDENTITY:
        df[key] = result.get(key, "")
    return df


def tidy_table(baselines: dict, saes: Sequence[dict]) -> pd.DataFrame:
    rows = []
    for result in [baselines, *saes]:
        df = records_frame(result)
        ident = {k: result.get(k, "") for k in IDENTITY}
        for (regime, value, method), g in df.groupby(["regime", "value", "method"], sort=False):
            rows.append({**ident, "regime": regime, "value": value, "method": method,
                         "test_auc": g["test_auc"].mean(), "test_auc_std": g["test_auc"].std(ddof=0),
                         "val_auc": g["val_auc"].mean(), "n": len(g), "note": ""})
        whole = {(u["regime"], u["reason"]) for u in result.get("not_available", []) if u["value"] is None}
        for regime, reason in sorted(whole):
            rows.append({**ident, "regime": regime, "value": "", "method": "", "test_auc": np.nan,
                         "test_auc_std": np.nan, "val_auc": np.nan, "n": 0, "note": f"not available: {reason}"})
    return pd.DataFrame(rows)


def quiver_settings(baselines: dict, sae: dict) -> pd.DataFrame:
    """Per setting (task, regime, value, repeat): the selected baseline and its test AUC, the selected
    method with the SAE probes and its test AUC, and the arrow (the difference)."""
    base = records_frame(baselines)
    ours = records_frame(sae)
    order = list(baselines.get("methods", base["method"].unique())) + list(sae.get("methods", ours["method"].unique()))
    both = pd.concat([base.assign(is_sae=False), ours.assign(is_sae=True)], ignore_index=True)
    both["rank"] = both["method"].map({m: i for i, m in enumerate(order)})
    rows = []
    for key, g in both.groupby(SETTING, sort=False):
        g = g.sort_values("rank")
        b = g[~g.is_sae]
        s = g[g.is_sae]
        if b.empty or s.empty:
            continue
        best_b = b.loc[b["val_auc"].idxmax()]  # idxmax: the first of equal maxima, in method order
        best_s = s.loc[s["val_auc"].idxmax()]
        chosen = best_s if best_s["val_auc"] > best_b["val_auc"] else best_b
        rows.append({**dict(zip(SETTING, key)), "baseline_method": best_b["method"],
                     "baseline_auc": best_b["test_auc"], "selected_method": chosen["method"],
                     "with_sae_auc": chosen["test_auc"], "sae_selected": bool(chosen["is_sae"]),
                     "improvement": chosen["test_auc"] - best_b["test_auc"]})
    return pd.DataFrame(rows, columns=[*SETTING, "baseline_method", "baseline_auc", "selected_method",
                                       "with_sae_auc", "sae_selected", "improvement"])


def quiver_summary(per_setting: pd.DataFrame) -> pd.DataFrame:
    """Means per regime and value, then per regime over all its settings (value 'all')."""
    rows = []
    for regime, g in per_setting.groupby("regime", sort=False):
        for value, h in [*g.groupby("value", sort=False), ("all", g)]:
            rows.append({"regime": regime, "value": value, "baseline_auc": h["baseline_auc"].mean(),
                         "with_sae_auc": h["with_sae_auc"].mean(), "improvement": h["improvement"].mean(),
                         "frac_sae_selected": h["sae_selected"].mean(),
                         "frac_sae_improves": (h["sae_selected"] & (h["improvement"] > 0)).mean(),
                         "n_settings": len(h)})
    return pd.DataFrame(rows)


def quiver_table(baselines: dict, saes: Sequence[dict]) -> pd.DataFrame:
    frames = []
    for sae in saes:
        summary = quiver_summary(quiver_settings(baselines, sae))
        for i, key in enumerate(IDENTITY[1:]):
            summary.insert(i, key, sae.get(key, ""))
        frames.append(summary)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def regimes_tables(baselines: Sequence[str | Path], saes: Sequence[str | Path]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """probing_regimes.csv and its quiver table: each SAE against the baselines of its own source (hook)."""
    bases = [read_json(b) for b in baselines]
    bad = [str(b) for b, r in zip(baselines, bases) if r.get("kind") != "baseline"]
    results = [read_json(s) for s in saes]
    bad += [str(s) for s, r in zip(saes, results) if r.get("kind") != "sae"]
    if bad:
        raise ValueError(f"not regimes-probe files of the expected kind (baselines, then SAEs): {bad}")
    tidy, quiver = [], []
    for base in bases:
        mine = [r for r in results if r["source"] == base["source"]]
        tidy.append(tidy_table(base, mine))
        quiver.append(quiver_table(base, mine))
    return (pd.concat(tidy, ignore_index=True) if tidy else pd.DataFrame(),
            pd.concat(quiver, ignore_index=True) if quiver else pd.DataFrame())
