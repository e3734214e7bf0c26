"""Core metrics of the SAEs on the language model per architecture and variant: explained variance (Eq. 5),
CE-loss recovered and KL score with the SAE spliced in, with the EV of arXiv 2602.14111 Table 2 marked
(Gemma-2-2B: the pattern across variants is what compares, not the value)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_ORDER, VARIANT_ORDER, ordered, variant_bars

METRICS = [("explained_variance", "explained variance (Eq. 5)"), ("ce_loss_recovered", "CE-loss recovered"),
           ("kl_div_score", "KL-divergence score")]


def plot(tables: Path):
    df = pd.read_csv(tables / "lm_core.csv")
    df = df[df.seed == "mean"]
    sources = sorted(df.source.unique())
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    variants = ordered(df.variant.unique(), VARIANT_ORDER)
    fig, axes = plt.subplots(len(sources), len(METRICS), figsize=(15, 4.2 * len(sources)), squeeze=False)
    for row, source in enumerate(sources):
        for col, (metric, label) in enumerate(METRICS):
            ax = axes[row, col]
            sub = df[(df.source == source) & (df.metric == metric)]
            variant_bars(ax, sub, variants, archs)
            low = float(sub.value.min()) if len(sub) else 0.0
            ax.set_ylim(min(0.0, low - 0.05), 1.05)
            ax.set_ylabel(label)
            ax.set_title(source, fontsize=9)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    uniq = dict(zip(labels, handles))
    uniq = {("paper Table 2 EV (Gemma-2-2B)" if k == "paper" else k): h for k, h in uniq.items()}
    fig.legend(uniq.values(), uniq.keys(), loc="lower center", ncol=min(len(uniq), 4), fontsize=8)
    fig.suptitle("SAEs on language-model activations: core metrics on held-out documents (arXiv 2602.14111)",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig
