"""Figure (a): explained variance (Eq. 5) and recovered fraction (Eq. 6, cosine >= 0.8) per architecture and
variant, for both probability models, with the numbers of arXiv 2602.14111 (section 3) marked."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_ORDER, CAVEAT_NOTE, VARIANT_ORDER, has_caveats, ordered, variant_bars

METRICS = [("explained_variance", "explained variance (Eq. 5)"), ("recovered_fraction", "recovered fraction")]


def plot(tables: Path):
    df = pd.read_csv(tables / "synthetic.csv")
    df = df[df.seed == "mean"]
    dists = ordered(df.distribution.unique(), ["constant", "variable"])
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    variants = ordered(df.variant.unique(), VARIANT_ORDER)
    fig, axes = plt.subplots(len(METRICS), len(dists), figsize=(max(8.0, 5.5 * len(dists)), 7.0), squeeze=False)
    for col, dist in enumerate(dists):
        for row, (metric, label) in enumerate(METRICS):
            ax = axes[row, col]
            sub = df[(df.distribution == dist) & (df.metric == metric)]
            variant_bars(ax, sub, variants, archs)
            ax.set_ylim(min(0, float(sub.value.min()) - 0.05) if len(sub) else 0, 1.05)
            ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{dist} p")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=min(len(uniq), 4), fontsize=8)
    title = "Synthetic ground truth: explained variance and recovered features (arXiv 2602.14111, sec. 3)"
    fig.suptitle(title + (f"\n{CAVEAT_NOTE}" if has_caveats(df) else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig
