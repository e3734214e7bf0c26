"""Probing in four regimes (arXiv 2502.16681): test ROC-AUC against each regime's value, one panel per regime
(scarcity, imbalance, noise, shift), grey lines for the baselines on the model's activations, the black line
for the baseline selected by validation AUC, and per SAE (architecture and variant, mean over seeds) its
best-with-SAE line from the quiver table: the trained SAE and its random baselines side by side."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from saesanity.figures.style import VARIANT_ORDER, ordered

REGIME_TITLE = {"scarcity": "data scarcity (training size)", "imbalance": "class imbalance (positive fraction)",
                "noise": "label noise (flipped fraction)", "shift": "covariate shift (train -> test)"}
REGIMES = ["scarcity", "imbalance", "noise", "shift"]


def _x(values: pd.Series, regime: str) -> tuple[np.ndarray, list[str]]:
    labels = list(dict.fromkeys(values))
    if regime == "shift":
        return np.array([labels.index(v) for v in values], float), labels
    return values.astype(float).to_numpy(), labels


def draw(table_csv: str | Path, quiver_csv: str | Path):
    table = pd.read_csv(table_csv, keep_default_na=False, na_values=[""], dtype={"value": str})
    quiver = pd.read_csv(quiver_csv, keep_default_na=False, na_values=[""], dtype={"value": str})
    quiver = quiver[quiver.value != "all"]
    fig, axes = plt.subplots(1, 4, figsize=(17, 4.2), squeeze=False)
    base = table[(table.kind == "baseline") & table.method.notna() & table.value.notna()]  # not the note rows
    variants = quiver.assign(label=quiver.arch.astype(str) + " " + quiver.variant.astype(str))
    labels = ordered(variants.label.unique(), [f"{a} {v}" for a in sorted(variants.arch.astype(str).unique())
                                                for v in VARIANT_ORDER])
    for ax, regime in zip(axes[0], REGIMES):
        ax.set_title(REGIME_TITLE[regime], fontsize=9)
        b = base[base.regime == regime]
        if b.empty:
            note = table[(table.regime == regime) & table.note.notna()]
            ax.text(0.5, 0.5, note.note.iloc[0] if len(note) else "not run", ha="center", va="center",
                    fontsize=8, wrap=True, transform=ax.transAxes)
            continue
        for i, (method, m) in enumerate(b.groupby("method", sort=False)):
            x, _ = _x(m.value, regime)
            ax.plot(x, m.test_auc, color=str(0.45 + 0.1 * i), lw=1, marker=".", label=method)
        q = variants[variants.regime == regime]
        if len(q):
            first = q[q.label == q.label.iloc[0]].groupby("value", sort=False).baseline_auc.mean()
            x, _ = _x(pd.Series(first.index), regime)
            ax.plot(x, first.to_numpy(), color="black", lw=1.5, label="best baseline (val. AUC)")
        for j, label in enumerate(labels):
            v = q[q.label == label].groupby("value", sort=False).with_sae_auc.mean()
            if len(v):
                x, _ = _x(pd.Series(v.index), regime)
                ax.plot(x, v.to_numpy(), color=f"C{j}", lw=1.5, marker="o", ms=3, label=f"with SAE: {label}")
        x, ticks = _x(b.value, regime)
        if regime == "scarcity":
            ax.set_xscale("log", base=2)
        if regime == "shift":
            ax.set_xticks(range(len(ticks)), ticks, fontsize=7)
        ax.set_ylabel("test ROC-AUC" if regime == REGIMES[0] else "")
    handles, names = [], []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 5), fontsize=8)
    fig.suptitle("Probing in four regimes (arXiv 2502.16681): mean test ROC-AUC over tasks and repeats", fontsize=11)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    return fig


def plot(tables: Path):
    """make_figures' entry: None unless results/tables holds probing_regimes.csv and its quiver table."""
    table, quiver = tables / "probing_regimes.csv", tables / "probing_regimes_quiver.csv"
    if not (table.is_file() and quiver.is_file()):
        return None
    return draw(table, quiver)
