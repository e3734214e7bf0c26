"""Figure (c): PW-MCC across seeds against ground-truth MCC (arXiv 2505.20254), one point per architecture,
variant and probability model; if PW-MCC is a usable proxy, points lie near the diagonal."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, ordered

MARKERS = {"constant": "o", "variable": "s"}


def plot(tables: Path):
    df = pd.read_csv(tables / "synthetic.csv")
    pw = df[df.metric == "pw_mcc"].set_index(["distribution", "arch", "variant"])
    gt = df[(df.metric == "gt_mcc") & (df.seed == "mean")].set_index(["distribution", "arch", "variant"])
    both = pw[["value", "std"]].join(gt[["value", "std"]], lsuffix="_pw", rsuffix="_gt", how="inner")
    fig, ax = plt.subplots(figsize=(5, 4.5))
    archs = ordered(both.index.get_level_values("arch").unique(), ARCH_ORDER)
    for (dist, arch, variant), row in both.iterrows():
        color = f"C{archs.index(arch)}"
        ax.errorbar(row.value_gt, row.value_pw, xerr=row.std_gt, yerr=row.std_pw, fmt=MARKERS.get(dist, "^"),
                    color=color, mfc=color if variant == "trained" else "none", capsize=2,
                    label=f"{ARCH_LABEL.get(arch, arch)}, {dist}" + ("" if variant == "trained" else f", {variant}"))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("ground-truth MCC (mean over seeds)")
    ax.set_ylabel("PW-MCC across seeds")
    if len(both) >= 3:
        r = both.value_pw.corr(both.value_gt)
        ax.set_title(f"PW-MCC vs ground truth (Pearson r = {r:.2f})", fontsize=10)
    if len(both):
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
