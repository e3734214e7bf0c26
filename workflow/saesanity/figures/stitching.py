"""The stitching and meta-SAE studies (Leask et al., arXiv 2502.04878), trained SAEs beside their random
baselines (one colour per variant, one line per seed):
- stitching curves: MSE against the number of latents, from S (d_S) through the novel latents inserted
  to L (d_L), one panel per adjacent pair of widths;
- novel fraction against the larger SAE's width, the paper's ~35% marked;
- the meta-SAE's decoder variance explained against width, the paper's 55.47% marked.
Each returns None when its table is absent (a config without the study)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_LABEL, VARIANT_ORDER, ordered

CURVES, STITCHING, META = "studies_stitching_curves.csv", "studies_stitching.csv", "studies_meta.csv"


def _colours(variants) -> dict[str, str]:
    return {v: f"C{i}" for i, v in enumerate(ordered(variants, VARIANT_ORDER))}


def _legend(fig, axes) -> None:
    handles = {}
    for ax in axes.flat:
        for h, label in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(label, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=min(len(handles), 4), fontsize=8)


def plot_curves(tables: Path):
    if not (tables / CURVES).is_file():
        return None
    df = pd.read_csv(tables / CURVES)
    pairs = sorted({(s, a, int(ds), int(dl)) for s, a, ds, dl in
                    df[["source", "arch", "d_small", "d_large"]].itertuples(index=False)})
    colours = _colours(df.variant.unique())
    n_cols = min(3, len(pairs))
    n_rows = -(-len(pairs) // n_cols)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(5 * n_cols, 3.6 * n_rows + 0.8), squeeze=False)
    for ax, (source, arch, ds, dl) in zip(axes.flat, pairs):
        sub = df[(df.source == source) & (df.arch == arch) & (df.d_small == ds) & (df.d_large == dl)]
        for (variant, seed), c in sub.groupby(["variant", "seed"], sort=True):
            c = c.sort_values("point")
            ax.plot(c.n_latents, c.mse, "-o", ms=2.5, color=colours[variant], lw=1, label=variant)
            novel_end = c[c.phase != "swap"].iloc[-1]
            ax.scatter([novel_end.n_latents], [novel_end.mse], marker="s", s=18, color=colours[variant], zorder=4)
        ax.set_xlabel("latents in the stitched SAE")
        ax.set_ylabel("MSE (held-out)")
        ax.set_title(f"{source} {ARCH_LABEL.get(arch, arch)}: {ds} -> {dl}", fontsize=9)
    for ax in axes.flat[len(pairs):]:
        ax.axis("off")
    _legend(fig, axes)
    fig.suptitle("SAE stitching (arXiv 2502.04878): novel latents inserted (square: all in), then reconstruction "
                 "families swapped", fontsize=10)
    fig.tight_layout(rect=(0, 0.8 / (3.6 * n_rows + 0.8), 1, 1))
    return fig


def _by_width(table: str, metric: str, width: str, paper: float, ylabel: str, title: str, tables: Path,
              baseline: str | None = None):
    """`metric` against `width` per variant; the paper's value where the table prints it beside a row, and
    the `baseline` metric's rows dotted."""
    if not (tables / table).is_file():
        return None
    full = pd.read_csv(tables / table)
    df = full[full.metric == metric]
    if df.empty:
        return None
    base = full[full.metric == baseline] if baseline else df.iloc[:0]
    groups = sorted({(s, a) for s, a in df[["source", "arch"]].itertuples(index=False)})
    colours = _colours(df.variant.unique())
    fig, axes = plt.subplots(1, len(groups), figsize=(max(7, 5 * len(groups)), 4.4), squeeze=False)
    for ax, (source, arch) in zip(axes.flat, groups):
        sub = df[(df.source == source) & (df.arch == arch)]
        for (variant, seed), c in sub.groupby(["variant", "seed"], sort=True):
            c = c.sort_values(width)
            ax.plot(c[width], c.value, "-o", ms=3, color=colours[variant], label=variant)
        sub_base = base[(base.source == source) & (base.arch == arch)]
        for (variant, seed), c in sub_base.groupby(["variant", "seed"], sort=True):
            c = c.sort_values(width)
            ax.plot(c[width], c.value, ":x", ms=3, color=colours[variant], label=f"{variant}: {baseline}")
        if sub.paper.notna().any():
            ax.axhline(paper, color="black", ls="--", lw=0.8, label="paper")
        ax.set_xscale("log", base=2)
        ax.set_ylim(0, 1.02)
        ax.set_xlabel(width.replace("_", " "))
        ax.set_ylabel(ylabel)
        ax.set_title(f"{source} {ARCH_LABEL.get(arch, arch)}", fontsize=9)
    _legend(fig, axes)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0.12, 1, 1))
    return fig


def plot_novel_fraction(tables: Path):
    from saesanity.studies.stitch_tables import PAPER_NOVEL_FRACTION
    return _by_width(STITCHING, "fraction_novel", "d_large", PAPER_NOVEL_FRACTION, "fraction of L's latents novel",
                     "Novel latents of the larger SAE\n(max decoder cosine with the smaller < threshold; "
                     "paper: ~35%, GPT-2)", tables)


def plot_meta(tables: Path):
    from saesanity.studies.stitch_tables import PAPER_META_VE
    return _by_width(META, "decoder_variance_explained", "d_sae", PAPER_META_VE, "decoder variance explained",
                     "Meta-SAE (BatchTopK, k = 4) on the decoder rows, dotted: on random unit rows of the same shape\n"
                     "(paper: 55.47% at 1:21 meta-latents per latent, drawn only at that ratio)", tables,
                     baseline="random_rows_variance_explained")
