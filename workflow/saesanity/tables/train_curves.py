"""results/tables/train_curves.csv: every language-model SAE's training curve (its train_curve.csv), tidy,
one row per (SAE, curve point), for the lazy-training figure (arXiv 2602.14111: JumpReLU at EV 0.80 after 5%
of training, 0.86 at the end, decoder rows near their init)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from saesanity.evals.identity import sae_identity

COLUMNS = ["source", "arch", "variant", "seed", "tokens", "heldout_ev", "init_cos_mean", "init_cos_min"]


def train_curves_table(curve_files: Sequence[str | Path]) -> pd.DataFrame:
    """The curves of the SAEs whose train_curve.csv are given, named by the cfg.json beside each."""
    parts = []
    for f in curve_files:
        ident = sae_identity(Path(f).parent)
        curve = pd.read_csv(f)
        parts.append(curve.assign(**{k: ident[k] for k in ("source", "arch", "variant", "seed")})[COLUMNS])
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    return pd.concat(parts, ignore_index=True).sort_values(["source", "arch", "variant", "seed", "tokens"],
                                                           kind="stable").reset_index(drop=True)
