"""The training curve of one SAE (train_curve.csv beside train_log.csv): at evenly spaced points of training,
the tokens seen, the explained variance on a fixed held-out sample (Eq. 5 of arXiv 2602.14111, around the
mean) and how far the decoder rows are from their random initialisation. arXiv 2602.14111 reports lazy
training (JumpReLU at EV 0.80 after 5% of training, 0.86 at the end, decoder rows near their init); the
curve says whether our SAEs trained long enough to leave their init and where on the curve they stopped.

Evaluating reads the weights under no_grad and touches no training state and no random stream, so the same
TrainJob and threads give the same weights with or without curve points (tests/test_train_curve.py)."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from saesanity.atomic import write_csv_rows
from saesanity.sae.base import SAE
from saesanity.sae.batchtopk import BatchTopKSAE

FIELDS = ["step", "tokens", "heldout_ev", "l0", "init_cos_mean", "init_cos_min"]
"""Columns of train_curve.csv."""
LAST_QUARTER = 0.75
"""`ev_gain_last_quarter` is the held-out EV at the end minus at this fraction of training."""


def curve_steps(n_steps: int, points: int) -> list[int]:
    """The numbers of completed steps after which the curve is read: 0 (the init), `points` evenly spaced
    counts up to n_steps, and 3/4 of n_steps (the start of the last quarter, whatever `points` is)."""
    if points <= 0:
        return []
    marks = {round(i * n_steps / points) for i in range(points + 1)} | {round(LAST_QUARTER * n_steps)}
    return sorted(marks)


def decoder_init_cos(W_FD: torch.Tensor, W0_FD: torch.Tensor) -> torch.Tensor:
    """Per decoder row, its cosine to its (unit-norm) initial direction."""
    return (W_FD * W0_FD).sum(1) / W_FD.norm(dim=1).clamp_min(1e-12)


@torch.no_grad()
def curve_latents(sae: SAE, x_ND: torch.Tensor) -> torch.Tensor:
    """The latents the curve reconstructs from, without touching training state. BatchTopK's inference
    threshold is only set by `finish`, so mid-training it uses its training rule instead: the k * N largest
    ReLU pre-activations over the N held-out rows taken as one batch (what `finish` calibrates its threshold
    to reproduce). Every other architecture uses its inference `encode`, which is its training selection
    (JumpReLU before its final L0 calibration)."""
    if isinstance(sae, BatchTopKSAE):
        return sae.batch_topk(sae.pre_acts(x_ND))
    return sae.encode(x_ND)


@torch.no_grad()
def heldout_ev(sae: SAE, x_ND: torch.Tensor, chunk_rows: int = 4096) -> tuple[float, float]:
    """(EV by Eq. 5, mean L0) of `sae` on `x_ND`, summed in float64. BatchTopK's batch is the whole of
    `x_ND` (curve_latents), so it is not chunked."""
    if isinstance(sae, BatchTopKSAE):
        chunk_rows = len(x_ND)
    x = x_ND.double()
    total_var = float((x - x.mean(0)).pow(2).sum(-1).mean())
    sq_err, active = 0.0, 0
    for start in range(0, len(x_ND), chunk_rows):
        x_BD = x_ND[start:start + chunk_rows]
        z_BF = curve_latents(sae, x_BD)
        sq_err += float((x_BD.double() - sae.decode(z_BF).double()).pow(2).sum())
        active += int(torch.count_nonzero(z_BF))
    n = len(x_ND)
    return (1 - sq_err / n / total_var if total_var > 0 else math.nan), active / n


class TrainCurve:
    """Points of one SAE's curve on `heldout_ND` (in the units the SAE trains on: raw activations times the
    activation scale; EV is a ratio, so it is the same in raw units up to rounding)."""

    def __init__(self, heldout_ND: torch.Tensor, W0_FD: torch.Tensor, steps: list[int], batch_size: int):
        self.heldout_ND, self.W0_FD, self.batch_size = heldout_ND, W0_FD, batch_size
        self.steps = set(steps)
        self.rows: list[dict[str, float]] = []

    def after(self, sae: SAE, done_steps: int) -> None:
        """Records a point if `done_steps` completed steps is one of the curve's."""
        if done_steps not in self.steps:
            return
        ev, l0 = heldout_ev(sae, self.heldout_ND)
        cos_F = decoder_init_cos(sae.W_dec.detach(), self.W0_FD)
        self.rows.append({"step": done_steps, "tokens": done_steps * self.batch_size, "heldout_ev": ev,
                          "l0": l0, "init_cos_mean": float(cos_F.mean()), "init_cos_min": float(cos_F.min())})

    def ev_at(self, fraction: float) -> float:
        """Held-out EV at the point nearest `fraction` of training."""
        last = self.rows[-1]["step"]
        return min(self.rows, key=lambda r: abs(r["step"] - fraction * last))["heldout_ev"]

    def summary(self, converged_ev_gain: float) -> dict:
        """For cfg.json's saesanity_training: the held-out EV at the end, its gain over the last quarter of
        training, and `converged` = |that gain| < `converged_ev_gain` (a curve that falls by more is not
        flat: measured on SmolLM2, a JumpReLU SAE lost 0.42 EV over its last quarter); null without a curve."""
        if len(self.rows) < 2:
            return {"curve_points": len(self.rows), "curve_heldout_ev": None, "ev_gain_last_quarter": None,
                    "converged": None}
        gain = self.rows[-1]["heldout_ev"] - self.ev_at(LAST_QUARTER)
        return {"curve_points": len(self.rows), "curve_heldout_ev": self.rows[-1]["heldout_ev"],
                "ev_gain_last_quarter": gain, "converged": bool(abs(gain) < converged_ev_gain)}

    def write(self, path: Path) -> None:
        write_csv_rows(path, self.rows, FIELDS)
