"""Training to the convergence criterion rather than to a token budget: train, and while some SAE's held-out curve
has not flattened (train.converged_ev_gain over the last quarter of training; saesanity.train_curve), train again
from scratch at twice the budget, at most `max_doublings` times. Each run is a whole run of its budget (warm-up,
constant rate, decay over the last lr_decay_fraction), so the SAE that is kept trained exactly as a fixed-budget
run of its final budget would have, bit for bit; the runs before it cost at most as much again.

The sanity check's baselines use it (config `sanity.until_converged`): "same architecture, width and L0" is like
with like only if the baselines are trained as far as the SAE they are compared with (issue 25)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from saesanity.config import TrainJob
from saesanity.data.store import ActivationStore
from saesanity.sae.io import read_training
from saesanity.train import train_saes

LADDER = "budget_ladder"
"""cfg.json metadata key: the runs before the kept one, each its tokens, and per SAE whether it had converged and
its held-out EV gain over the last quarter."""


def train_until_converged(jobs: list[TrainJob], store: ActivationStore, out_dirs: list[str | Path],
                          heldout: ActivationStore, max_doublings: int, metadata: dict | None = None,
                          threads: int = 1, truth_FD: torch.Tensor | None = None) -> list[dict]:
    """Trains `jobs` in one pass per budget (module docstring) and leaves the last run in `out_dirs`, its cfg.json
    recording the runs before it (LADDER). Returns the ladder, the kept run last."""
    if max_doublings < 0:
        raise ValueError(f"max_doublings must be >= 0, got {max_doublings}")
    if any(job.train.curve_points <= 0 for job in jobs):
        raise ValueError("training to convergence reads the held-out curve: train.curve_points must be > 0")
    ladder: list[dict] = []
    for doubling in range(max_doublings + 1):
        rung = [dataclasses.replace(job, train=dataclasses.replace(job.train,
                                                                   n_samples=job.train.n_samples << doubling))
                for job in jobs]
        train_saes(rung, store, out_dirs, {**(metadata or {}), LADDER: ladder}, threads, truth_FD, heldout)
        summaries = [read_training(d) for d in out_dirs]
        ladder = ladder + [{"tokens": summaries[0]["tokens_seen"], "converged": [s["converged"] for s in summaries],
                            "ev_gain_last_quarter": [s["ev_gain_last_quarter"] for s in summaries]}]
        if all(s["converged"] for s in summaries):
            break
    return ladder
