"""Table 2 of arXiv 2602.14111 for the vision model as grouped bars (results/vision/vision_table2.png): one
panel per metric, per architecture the trained SAE beside the random baselines, seed spread as error bars;
the concept panels also show the ideal and random reference dictionaries."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_ORDER, CAVEAT_NOTE, VARIANT_ORDER, has_caveats, ordered, variant_bars

METRIC_LABEL = {"explained_variance": "explained variance (Eq. 5)", "l0": "L0 reached",
                "loss_recovered": "loss recovered (spliced)", "accuracy_recovered": "accuracy recovered (spliced)",
                "sparse_probing_top1": "sparse probing top-1", "sparse_probing_top5": "sparse probing top-5",
                "concepts_detected": "concepts detected (F1 >= 0.8)",
                "concepts_mean_best_f1": "concept F1 of the best latent (mean)", "detection": "detection accuracy (ground truth)"}
N_COLS = 4
FLOOR = -1.05
"""The lowest y shown: bars below it are clipped and their values written in the panel."""
REFERENCE = "reference"


def plot(table: pd.DataFrame):
    df = table[table.seed == "mean"]
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    variants = ordered(df.variant.unique(), VARIANT_ORDER)
    cells = [m for m in METRIC_LABEL if m in set(df.metric) and df[df.metric == m].value.notna().any()]
    n_rows = max(1, -(-len(cells) // N_COLS))
    height = 3.6 * n_rows + 0.9
    fig, axes = plt.subplots(n_rows, N_COLS, figsize=(18, height), squeeze=False)
    for ax, metric in zip(axes.flat, cells):
        sub = df[df.metric == metric]
        panel_archs = archs if metric.startswith("concepts") else [a for a in archs if a != REFERENCE]
        variant_bars(ax, sub, variants, panel_archs)
        if metric != "l0":
            low = float(sub.value.min()) if sub.value.notna().any() else 0.0
            ax.set_ylim(max(FLOOR, min(0.0, low - 0.05)), 1.05)
            if low < FLOOR:  # a far negative EV (a cov baseline) would flatten every other bar: clip, print it
                for _, r in sub[sub.value < FLOOR].iterrows():
                    ax.annotate(f"{r.arch} {r.variant}: {r.value:.2f}", xy=(0.02, 0.04), xycoords="axes fraction",
                                fontsize=6, xytext=(0, 8 * list(sub[sub.value < FLOOR].index).index(r.name)),
                                textcoords="offset points")
        ax.set_title(METRIC_LABEL[metric], fontsize=9)
    for ax in axes.flat[len(cells):]:
        ax.axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    uniq = {k: h for k, h in zip(labels, handles) if k != "paper"}
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=min(len(uniq), 6), fontsize=8)
    sources = ", ".join(sorted(df.source.unique()))
    fig.suptitle(f"Vision ({sources}): trained SAEs vs random baselines, the metrics of Table 2 of arXiv "
                 "2602.14111 (bars: mean over seeds, error bars: std, ddof 1)"
                 + (f"\n{CAVEAT_NOTE}" if has_caveats(df) else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))
    return fig
