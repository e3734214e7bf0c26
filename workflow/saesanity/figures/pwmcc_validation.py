"""PW-MCC against ground-truth MCC over training checkpoints and dictionary sizes (arXiv 2505.20254): one
panel per data set, one line per (architecture, dictionary size) from its first checkpoint to the final SAE
(filled marker), the Pearson correlation with its n and 95% CI in each title where the points span more than
their seed noise (saesanity.tables.correlation_table). Points on the diagonal: PW-MCC equals ground truth."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from saesanity.figures.style import ARCH_LABEL, ARCH_ORDER, ordered

SIZE_MARKERS = ["o", "s", "^", "D", "v", "P"]


def plot(tables: Path):
    points = pd.read_csv(tables / "validation.csv")
    corr = pd.read_csv(tables / "validation_correlation.csv").set_index("scope")
    dists = sorted(points.distribution.unique()) or ["(none)"]
    fig, axes = plt.subplots(1, len(dists), figsize=(max(6.4, 4.6 * len(dists)), 4.6), squeeze=False)
    archs = ordered(points.arch.unique(), ARCH_ORDER)
    for ax, dist in zip(axes[0], dists):
        g = points[points.distribution == dist]
        sizes = sorted(g.d_sae.unique())
        for (arch, d_sae, _), line in g.groupby(["arch", "d_sae", "experiment"], sort=True):
            line = line.sort_values("samples")
            color, marker = f"C{archs.index(arch)}", SIZE_MARKERS[sizes.index(d_sae) % len(SIZE_MARKERS)]
            ax.plot(line.gt_mcc, line.pw_mcc, color=color, lw=0.8, alpha=0.6)
            ax.scatter(line.gt_mcc, line.pw_mcc, color="none", edgecolors=color, marker=marker, s=18)
            end = line[line.final]
            label = ARCH_LABEL.get(arch, arch) + (f", {d_sae} latents" if len(sizes) > 1 else "")
            ax.scatter(end.gt_mcc, end.pw_mcc, color=color, marker=marker, s=30, label=label)
        ax.plot([0, 1], [0, 1], color="grey", lw=1, ls=":")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("ground-truth MCC (mean over seeds)")
        ax.set_ylabel("PW-MCC across seeds")
        n_feat = f", {int(g.n_features.iloc[0])} features" if len(g) else ""
        ax.set_title(f"{dist}{n_feat}: {correlation_label(corr, dist)}", fontsize=9)
        if len(g):
            ax.legend(fontsize=6, ncol=2 if len(g.groupby(['arch', 'd_sae'])) > 6 else 1)
    fig.suptitle("PW-MCC vs ground truth over checkpoints and sizes (r per data set: pooling data sets would "
                 "measure the gap between them)", fontsize=9)
    fig.tight_layout()
    return fig


def correlation_label(corr: pd.DataFrame, scope: str) -> str:
    if scope not in corr.index:
        return "no points"
    row = corr.loc[scope]
    if not row.informative:
        return f"points within seed noise (n = {row.n_points}): no r"
    return f"Pearson r = {row.pearson_r:.2f} [{row.pearson_ci_low:.2f}, {row.pearson_ci_high:.2f}], n = {row.n_points}"
