"""Figure (b): each true feature's recovery (max decoder cosine, Eq. 6 of arXiv 2602.14111) against its firing
probability, log x-axis, with the 0.8 threshold; trained SAEs, every seed."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from saesanity.evals.recovery import RECOVERY_THRESHOLD
from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, ordered


def plot(tables: Path):
    df = pd.read_csv(tables / "synthetic_features.csv")
    df = df[df.variant == "trained"]
    dists = ordered(df.distribution.unique(), ["constant", "variable"])
    archs = ordered(df.arch.unique(), ARCH_ORDER)
    fig, axes = plt.subplots(len(dists), len(archs), figsize=(3.2 * len(archs), 3.0 * len(dists)),
                             squeeze=False, sharey=True)
    for r, dist in enumerate(dists):
        for c, arch in enumerate(archs):
            ax = axes[r, c]
            sub = df[(df.distribution == dist) & (df.arch == arch)]
            ax.scatter(sub.p, sub.max_cos, s=2, alpha=0.25, rasterized=True)
            if sub.p.nunique() > 1:
                edges = np.logspace(np.log10(sub.p.min()), np.log10(sub.p.max()), 13)
                bins = pd.cut(sub.p, edges, include_lowest=True, labels=False)
                med = sub.groupby(bins).max_cos.median()
                # geometric bin centres from the edges (pandas widens the first interval below 0)
                centres = np.sqrt(edges[:-1] * edges[1:])[med.index.to_numpy(dtype=int)]
                ax.plot(centres, med.to_numpy(), color="C1", label="median")
            ax.axhline(RECOVERY_THRESHOLD, color="red", ls="--", lw=1, label="recovered (0.8)")
            ax.set_xscale("log")
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{ARCH_LABEL.get(arch, arch)}, {dist} p", fontsize=9)
            if r == len(dists) - 1:
                ax.set_xlabel("feature firing probability")
            if c == 0:
                ax.set_ylabel("max cosine to a decoder row")
    axes[0, 0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig
