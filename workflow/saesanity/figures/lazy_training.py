"""Lazy training (arXiv 2602.14111: JumpReLU reached EV 0.80 after 5% of training, 0.86 at the end, while its
decoder rows stayed close to their initialisation): per architecture, held-out EV (Eq. 5) against tokens
seen (left) and the decoder rows' mean cosine to their random init (right), the trained SAE beside the
Soft-Frozen Decoder and, lighter, the other baselines; mean over seeds with the seeds' range shaded. The
Soft-Frozen cone (tau 0.8) is the horizontal line: a trained decoder above it never left the cone the
baseline is confined to."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import FuncFormatter
import pandas as pd

from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, VARIANT_ORDER, ordered

SOFT_FROZEN_TAU = 0.8
"""The Soft-Frozen Decoder's cone (arXiv 2602.14111; config arch soft_frozen tau)."""
EMPHASIS = {"trained": dict(color="black", lw=2.0, alpha=1.0),
            "soft_frozen_decoder-iso": dict(color="tab:red", lw=1.8, alpha=1.0)}
LIGHT = dict(lw=1.0, alpha=0.45)
PANELS = (("heldout_ev", "held-out EV (Eq. 5)"), ("init_cos_mean", "decoder-to-init mean cosine"))
EV_FLOOR = -0.2
"""The EV axis stops here: a baseline far below 0 (SmolLM2's cov baselines reach -400) would flatten every
other curve into one line; the variants that go below are named in the panel instead."""


def plot(tables: Path):
    path = tables / "train_curves.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    if df.empty:
        return None
    rows = [(s, a) for s in sorted(df.source.unique()) for a in ordered(df[df.source == s].arch.unique(), ARCH_ORDER)]
    fig, axes = plt.subplots(len(rows), 2, figsize=(11, 3.2 * len(rows) + 0.8), squeeze=False)
    for (source, arch), ax_row in zip(rows, axes):
        sub = df[(df.source == source) & (df.arch == arch)]
        for variant in ordered(sub.variant.unique(), VARIANT_ORDER):
            style = EMPHASIS.get(variant, LIGHT)
            by_tokens = sub[sub.variant == variant].groupby("tokens")
            for ax, (col, label) in zip(ax_row, PANELS):
                stats = by_tokens[col].agg(["mean", "min", "max"])
                ax.plot(stats.index, stats["mean"], label=variant, **style)
                ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15,
                                color=style.get("color"), lw=0)
                ax.set_ylabel(label)
        lowest = sub.groupby("variant").heldout_ev.min()
        below = [v for v in ordered(sub.variant.unique(), VARIANT_ORDER) if lowest[v] < EV_FLOOR]
        if below:
            ax_row[0].set_ylim(bottom=EV_FLOOR, top=1)
            ax_row[0].text(0.98, 0.04, f"below {EV_FLOOR}, off scale: " + ", ".join(below),
                           transform=ax_row[0].transAxes, ha="right", va="bottom", fontsize=7)
        ax_row[1].axhline(SOFT_FROZEN_TAU, color="tab:red", ls="--", lw=1,
                          label=f"Soft-Frozen cone tau {SOFT_FROZEN_TAU}")
        title = f"{ARCH_LABEL.get(arch, arch)}" + (f" ({source})" if df.source.nunique() > 1 else "")
        for ax in ax_row:
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("tokens seen")
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1e3:g}k" if v else "0"))
    # Every variant of every panel, once (an architecture may lack some baselines).
    legend = {l: h for ax in axes[:, 1] for h, l in zip(*ax.get_legend_handles_labels())}
    handles, labels = list(legend.values()), list(legend.keys())
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8)
    fig.suptitle("Lazy training: held-out EV and distance from the random init during training "
                 "(mean over seeds, shaded: range; BatchTopK read with its batch top-k rule)", fontsize=10)
    fig.tight_layout(rect=(0, 0.8 / (3.2 * len(rows) + 0.8), 1, 1))
    return fig
