"""Table 2 of arXiv 2602.14111 as grouped bars: one panel per metric (EV, CE loss recovered and the KL score,
sparse probing top-1 and top-5,
RAVEL, AutoInterp, the ground-truth concept check, the L0 reached), per architecture the trained SAE beside
the random baselines at the headline L0, seed spread as error bars and the paper's number marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.evals.registry import L0, METRICS
from saesanity.figures.style import ARCH_ORDER, CAVEAT_NOTE, VARIANT_ORDER, has_caveats, ordered, variant_bars
from saesanity.tables.saturation import SATURATED_LABEL
from saesanity.tables.table2 import REFERENCE

METRIC_LABEL = {m.name: m.label for m in METRICS if m.label and m is not L0} | {L0.name: L0.label}
"""The panels, in saesanity.evals.registry's order, L0 last (the constraint the scores are read at, not a score);
table2.csv holds more: the training record, probing's per-task means, concepts by kind."""
N_COLS = 3


def table2_means(tables: Path) -> pd.DataFrame:
    """The seed-mean rows of table2.csv."""
    df = pd.read_csv(tables / "table2.csv")
    return df[df.seed == "mean"]


def panels(df: pd.DataFrame) -> list[tuple[str, str]]:
    """(source, metric) of every panel, in METRIC_LABEL's order."""
    return [(s, m) for s in sorted(df.source.unique()) for m in METRIC_LABEL if m in set(df.metric)]


def mark_saturated(ax, sub: pd.DataFrame) -> None:
    """Hatches a panel and names the architectures on which the metric cannot discriminate (table2.csv's
    `saturated`: trained and every baseline at the ceiling, saesanity.tables.saturation)."""
    if "saturated" not in sub or not sub.saturated.any():
        return
    archs = ", ".join(ordered(sub[sub.saturated].arch.unique(), ARCH_ORDER))
    ax.patch.set_hatch("//")
    ax.patch.set_edgecolor("0.85")
    ax.text(0.5, 0.5, f"{SATURATED_LABEL}\n({archs})", transform=ax.transAxes, ha="center", va="center",
            fontsize=9, color="firebrick", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "firebrick"})


def plot(tables: Path):
    df = table2_means(tables)
    df = df[df.headline]
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    variants = ordered(df.variant.unique(), VARIANT_ORDER)
    cells = panels(df)
    n_rows = -(-len(cells) // N_COLS)
    height = 3.8 * n_rows + 0.9  # 0.9 in below the panels for the legend
    fig, axes = plt.subplots(n_rows, N_COLS, figsize=(16, height), squeeze=False)
    for ax, (source, metric) in zip(axes.flat, cells):
        sub = df[(df.source == source) & (df.metric == metric)]
        # The concept check's ideal and random dictionaries (arch 'reference') belong to its panels only.
        panel_archs = archs if metric.startswith("concepts") else [a for a in archs if a != REFERENCE]
        variant_bars(ax, sub, variants, panel_archs)
        if metric != "l0":
            low = float(sub.value.min()) if sub.value.notna().any() else 0.0
            ax.set_ylim(min(0.0, low - 0.05), 1.05)
        ax.set_ylabel(METRIC_LABEL.get(metric, metric))
        mark_saturated(ax, sub)
        ax.set_title(source if df.source.nunique() > 1 else METRIC_LABEL.get(metric, metric), fontsize=9)
    for ax in axes.flat[len(cells):]:
        ax.axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    uniq = {("paper (Gemma-2-2B, L0 160)" if k == "paper" else k): h for k, h in zip(labels, handles)}
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=min(len(uniq), 4), fontsize=8)
    l0s = ", ".join(f"{v:g}" for v in sorted(df.target_l0.unique()))
    fig.suptitle(f"Trained SAEs vs random baselines, Table 2 of arXiv 2602.14111 (target L0 {l0s}; "
                 "bars: mean over seeds, error bars: std, ddof 1)" + (f"\n{CAVEAT_NOTE}" if has_caveats(df) else ""),
                 fontsize=10)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))
    return fig
