"""The metrics of Table 2 (arXiv 2602.14111) against target L0, for a config with an L0 sweep
(saes.lm.l0_sweep; the paper sweeps 80, 115, 160, 225, 320): one row of panels per metric, one column per
architecture, one line per variant (mean over seeds, std as error bars), the paper's Table 2 number marked
at the headline L0. No figure without a sweep."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt

from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, PAPER_MARKER, VARIANT_ORDER, ordered
from saesanity.figures.table2_metrics import METRIC_LABEL, panels, table2_means
from saesanity.tables.table2 import REFERENCE


def has_sweep(df) -> bool:
    return bool((df.groupby(["source", "arch", "variant"]).target_l0.nunique() > 1).any())


def plot(tables: Path):
    df = table2_means(tables)
    if not has_sweep(df):
        return None
    df = df[df.arch != REFERENCE]  # the concept check's references have one L0: no line to draw
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    variants = ordered(df.variant.unique(), VARIANT_ORDER)
    rows = panels(df)
    height = 3.2 * len(rows) + 0.9  # 0.9 in below the panels for the legend
    fig, axes = plt.subplots(len(rows), len(archs), figsize=(4 * len(archs), height), squeeze=False, sharex=True)
    colors = {v: f"C{i}" for i, v in enumerate(variants)}
    l0s = sorted(df.target_l0.unique())
    for r, (source, metric) in enumerate(rows):
        for c, arch in enumerate(archs):
            ax = axes[r, c]
            sub = df[(df.source == source) & (df.metric == metric) & (df.arch == arch)]
            for variant in variants:
                v = sub[sub.variant == variant].sort_values("target_l0")
                if v.empty:
                    continue
                ax.errorbar(v.target_l0, v.value, yerr=v["std"].fillna(0), marker="o", ms=3, capsize=2,
                            color=colors[variant], label=variant)
                paper = v[v.paper_value.notna()]
                # In the variant's colour: several variants have a paper number at the same L0.
                ax.scatter(paper.target_l0, paper.paper_value, **{**PAPER_MARKER, "color": colors[variant]})
            ax.set_xscale("log")
            ax.set_xticks(l0s, [f"{x:g}" for x in l0s])
            ax.minorticks_off()
            if r == 0:
                ax.set_title(ARCH_LABEL.get(arch, arch) + (f" ({source})" if df.source.nunique() > 1 else ""))
            if c == 0:
                ax.set_ylabel(METRIC_LABEL.get(metric, metric), fontsize=8)
            if r == len(rows) - 1:
                ax.set_xlabel("target L0")
    handles, labels = [], []
    for ax in axes.flat:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    labels = ["paper (Gemma-2-2B, L0 160; variant colour)" if k == "paper" else k for k in labels]
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8)
    fig.suptitle("Table 2 metrics over the L0 sweep (arXiv 2602.14111): mean over seeds, std as error bars",
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.9 / height, 1, 1))
    return fig
