"""Shared look and byte-stable saving of figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib

# Every figure module imports this one, so no figure is drawn before the backend is set: Agg, the same
# files with or without a display.
matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

ARCH_ORDER = ["relu", "topk", "batchtopk", "jumprelu", "reference"]
ARCH_LABEL = {"relu": "ReLU/L1", "topk": "TopK", "batchtopk": "BatchTopK", "jumprelu": "JumpReLU",
              "reference": "reference"}
VARIANT_ORDER = ["trained", "frozen_decoder-iso", "frozen_decoder-cov", "soft_frozen_decoder-iso",
                 "soft_frozen_decoder-cov", "frozen_encoder-iso", "frozen_encoder-cov", "frozen_decoder-truth",
                 "frozen_both-truth", "ideal", "random"]
PAPER_MARKER = dict(marker="x", color="black", s=40, zorder=5, label="paper")


def ordered(values, order):
    return [v for v in order if v in set(values)] + sorted(set(values) - set(order))


CAVEAT_NOTE = ("hatched: a caveat in the table (a Soft-Frozen cone that never bound, so the comparison holds by "
               "construction; or an L0 exempt from matching)")


def variant_bars(ax, rows: pd.DataFrame, variants: list[str], archs: list[str]) -> None:
    """One bar per variant within each architecture's group: the seed mean, its std as the error bar, and the
    paper's number as a cross where it has one; hatched where the table gives the row a caveat. `rows`: one
    metric of one source, seed-mean rows."""
    width = 0.8 / max(1, len(variants))
    for i, variant in enumerate(variants):
        v = rows[rows.variant == variant].set_index("arch").reindex(archs)
        x = np.arange(len(archs)) + (i - (len(variants) - 1) / 2) * width
        bars = ax.bar(x, v.value, width, yerr=v["std"].fillna(0), label=variant, capsize=2, color=f"C{i}")
        for bar, note in zip(bars, v["caveat"] if "caveat" in v else [None] * len(v)):
            if isinstance(note, str) and note:
                bar.set_hatch("//")
        ax.scatter(x, v.paper_value.to_numpy(dtype=float), **PAPER_MARKER)
    ax.set_xticks(np.arange(len(archs)), [ARCH_LABEL.get(a, a) for a in archs])


def has_caveats(rows: pd.DataFrame) -> bool:
    return "caveat" in rows and any(isinstance(n, str) and n for n in rows["caveat"])


def save(fig: Figure, stem: Path) -> None:
    # No timestamps or version strings in the files, so a rerun writes the same bytes.
    fig.savefig(stem.with_suffix(".png"), dpi=130, metadata={"Software": None})
    fig.savefig(stem.with_suffix(".pdf"), metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
