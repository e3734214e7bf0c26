"""results/sanity/<name>/verdict.png: one panel per metric, the SAE beside each random baseline (seed mean,
bars from the lowest to the highest seed), the panel titled with the verdict (saesanity.sanity.verdict)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from saesanity.figures.style import VARIANT_ORDER, ordered, save


def draw_verdict(name: str, scores: pd.DataFrame, table: pd.DataFrame, stem: Path) -> None:
    metrics = list(table.metric)
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax, row in zip(axes.flat, table.itertuples()):
        m = scores[scores.metric == row.metric]
        roles = ["sae"] + ordered(set(m.role) - {"sae"}, VARIANT_ORDER)
        by_role = m.groupby("role").value
        mean, lo, hi = by_role.mean().reindex(roles), by_role.min().reindex(roles), by_role.max().reindex(roles)
        x = np.arange(len(roles))
        # The SAE in red (C3); the baselines in the other colours of the cycle.
        others = [f"C{i}" for i in range(10) if i != 3]
        ax.bar(x, mean, color=["C3"] + [others[i % len(others)] for i in range(len(roles) - 1)],
               yerr=[mean - lo, hi - mean], capsize=2)
        ax.set_xticks(x, [r.replace("_decoder", "_dec").replace("_encoder", "_enc") for r in roles],
                      rotation=60, ha="right", fontsize=7)
        ax.set_title(f"{row.label}\n{row.verdict}", fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{name}: the SAE (red) against its random baselines (range over seeds)", fontsize=9)
    fig.tight_layout()
    save(fig, stem)
