"""results/sanity/<name>/verdict.png: one panel per metric, the SAE and its controls (an untrained SAE; on the
toy world a dictionary of its known concepts) beside each random baseline (seed mean, bars from the lowest to
the highest seed), the panel titled with the verdict, and "no power" where a control did not get the verdict
it must get (saesanity.sanity.verdict)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from saesanity.figures.style import VARIANT_ORDER, ordered, save


def draw_verdict(name: str, scores: pd.DataFrame, table: pd.DataFrame, stem: Path, lead: tuple[str, ...],
                 powerless: dict[str, str]) -> None:
    """`lead`: the roles of the SAE, its negative, concept and trained controls, drawn first in red, grey, green
    and orange; `powerless`: the metrics shown to have no power, and why."""
    metrics = list(table.metric)
    cols = min(4, len(metrics))
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    lead_colours = dict(zip(lead, ["C3", "C7", "C2", "C1"]))
    others = [f"C{i}" for i in range(10) if f"C{i}" not in lead_colours.values()]
    for ax, row in zip(axes.flat, table.itertuples()):
        m = scores[scores.metric == row.metric]
        controls = [r for r in lead if r in set(m.role)]
        roles = controls + ordered(set(m.role) - set(controls), VARIANT_ORDER)
        by_role = m.groupby("role").value
        mean, lo, hi = by_role.mean().reindex(roles), by_role.min().reindex(roles), by_role.max().reindex(roles)
        x = np.arange(len(roles))
        colours = [lead_colours[r] for r in controls] + [others[i % len(others)]
                                                         for i in range(len(roles) - len(controls))]
        ax.bar(x, mean, color=colours, yerr=[mean - lo, hi - mean], capsize=2)
        ax.set_xticks(x, [r.replace("_decoder", "_dec").replace("_encoder", "_enc") for r in roles],
                      rotation=60, ha="right", fontsize=7)
        power = f"\nno power: {powerless[row.metric]}" if row.metric in powerless else ""
        ax.set_title(f"{row.label}\n{row.verdict}{power}", fontsize=8)
    for ax in list(axes.flat)[len(metrics):]:
        ax.axis("off")
    fig.suptitle(f"{name}: the SAE (red), an untrained SAE (grey), one trained to convergence (orange) and, on the "
                 f"toy world, the known concepts (green) against the random baselines (range over seeds)", fontsize=9)
    fig.tight_layout()
    save(fig, stem)
