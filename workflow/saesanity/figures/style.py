"""Shared look and byte-stable saving of figures."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

ARCH_ORDER = ["relu", "topk", "batchtopk", "jumprelu"]
ARCH_LABEL = {"relu": "ReLU/L1", "topk": "TopK", "batchtopk": "BatchTopK", "jumprelu": "JumpReLU"}
VARIANT_ORDER = ["trained", "frozen_decoder-iso", "frozen_decoder-cov", "soft_frozen_decoder-iso",
                 "soft_frozen_decoder-cov", "frozen_encoder-iso", "frozen_encoder-cov"]
PAPER_MARKER = dict(marker="x", color="black", s=40, zorder=5, label="paper")


def ordered(values, order):
    return [v for v in order if v in set(values)] + sorted(set(values) - set(order))


def save(fig: Figure, stem: Path) -> None:
    # No timestamps or version strings in the files, so a rerun writes the same bytes.
    fig.savefig(stem.with_suffix(".png"), dpi=130, metadata={"Software": None})
    fig.savefig(stem.with_suffix(".pdf"), metadata={"CreationDate": None, "Producer": None, "Creator": None})
    plt.close(fig)
