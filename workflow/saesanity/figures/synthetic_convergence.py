"""The synthetic convergence study: recovered fraction (Eq. 6 of arXiv 2602.14111) and explained variance (Eq. 5)
against samples seen, one line per architecture (base recipe), the paper's numbers as dashed lines of the
same colour; and, per axis of the recipe, the recovered fraction of the runs that vary it."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, ordered
from saesanity.paper import SYNTHETIC

METRICS = [("recovered_fraction", "recovered fraction (cos >= 0.8)"),
           ("recovered_frequent", "recovered, features with p > 0.01"),
           ("explained_variance", "explained variance (Eq. 5)")]


def read(tables: Path) -> pd.DataFrame | None:
    path = tables / "convergence.csv"
    return pd.read_csv(path) if path.is_file() else None


def plot(tables: Path):
    df = read(tables)
    if df is None:
        return None
    base = df[df.run == "base"]
    dists = ordered(base.distribution.unique(), ["constant", "variable"])
    archs = ordered(base.arch.unique(), ARCH_ORDER)
    fig, axes = plt.subplots(len(dists), len(METRICS), figsize=(5 * len(METRICS), 3.4 * len(dists)),
                             squeeze=False)
    for r, dist in enumerate(dists):
        for c, (metric, label) in enumerate(METRICS):
            ax = axes[r, c]
            for i, arch in enumerate(archs):
                run = base[(base.distribution == dist) & (base.arch == arch)].sort_values("samples")
                if run.empty:
                    continue
                ax.plot(run.samples / 1e6, run[metric], marker=".", color=f"C{i}", label=ARCH_LABEL.get(arch, arch))
                paper = SYNTHETIC.get((dist, arch, metric))
                if paper is not None:
                    ax.axhline(paper.value, color=f"C{i}", ls="--", lw=1)
            if base.loc[base.distribution == dist, metric].isna().all():
                # constant p has no feature above p 0.01: say so rather than draw empty axes
                ax.text(0.5, 0.5, "no feature in this band", ha="center", va="center", transform=ax.transAxes)
                ax.set_xticks([])
            ax.set_ylim(0, 1.02)
            ax.set_title(f"{dist} p: {label}", fontsize=9)
            ax.set_xlabel("training samples (millions)")
    axes[0, 0].legend(fontsize=8, title="dashed: paper", title_fontsize=7)
    fig.tight_layout()
    return fig


def plot_axes(tables: Path):
    df = read(tables)
    if df is None or (df.run != "base").sum() == 0:
        return None
    varied = df[df.run != "base"]
    panels = sorted({(d, a, ax) for d, a, ax in zip(varied.distribution, varied.arch, varied.axis)})
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    for ax, (dist, arch, axis) in zip(axes[0], panels):
        sub = df[(df.distribution == dist) & (df.arch == arch) & ((df.axis == axis) | (df.run == "base"))]
        for run, g in sub.groupby("run", sort=True):
            g = g.sort_values("samples")
            ax.plot(g.samples / 1e6, g.recovered_fraction, marker=".", lw=2 if run == "base" else 1, label=run)
        ax.set_ylim(0, 1.02)
        ax.set_title(f"{ARCH_LABEL.get(arch, arch)}, {dist} p: {axis}", fontsize=9)
        ax.set_xlabel("training samples (millions)")
        ax.set_ylabel("recovered fraction")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
