"""Multi-task Differential Binary Masking (MDBM) over SAE latents (RAVEL, Huang et al. 2024, arXiv 2402.17700,
sec. 4; as used for SAEs by SAEBench and arXiv 2602.14111, sec. 5).

An interchange intervention at the intervention sites (the entity token, or the entity token and the ones after
it): at each site the base's latents z_b and the source's z_s, mixed by a mask m over latents, are decoded
back. We keep the SAE's error term of the base,

    x' = dec((1 - m) * z_b + m * z_s) + (x_b - dec(z_b)) = x_b + ((z_s - z_b) * m) @ W_dec,

so that an all-zero mask is exactly the identity and only the chosen latents move the activation (SAEBench
drops the error term by default; we keep it so that a poor reconstruction is not mistaken for an edit).

The mask is sigmoid(l / T) while training, T annealed from 1 to 1e-4 on a log scale, and the hard mask
l > 0 at evaluation. One mask per attribute A is trained on two objectives at once (RAVEL's multi-task
loss): on prompts of A the patched model should output the SOURCE entity's value of A (cause), on prompts
of the other attributes B it should keep the BASE entity's value of B (isolation).

The language model is abstracted as `patched_logits(base_B, delta_BKD)`: next-token logits at the last
position of base prompts `base_B` with `delta_BKD` added at their K intervention sites (site k of the base
takes site k of the source; padding sites have z = 0 in both, hence delta 0), so the same code runs on a
transformer and on the planted linear models of the tests.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F

from saesanity.config import _check

PatchedLogits = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class MaskTraining:
    """Optimisation of one mask (Adam on the mask logits, as SAEBench's MDBM)."""

    steps: int = 50
    batch_size: int = 32
    """Examples per step, half cause and half isolation."""
    lr: float = 0.01
    temperature_start: float = 1.0
    temperature_end: float = 1e-4
    sparsity: float = 0.01
    """Weight of the mean mask value in the loss (our addition; SAEBench's MDBM has none): Adam rescales even
    the rounding-noise gradient of a latent that no example moves to full steps, so without a pull towards
    0 such latents drift into the mask at random."""
    seed: int = 0

    def __post_init__(self) -> None:
        _check(self.steps >= 1, "steps", f"must be >= 1, got {self.steps}")
        _check(self.batch_size >= 2, "batch_size", f"must be >= 2, got {self.batch_size}")
        _check(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _check(self.sparsity >= 0, "sparsity", f"must be >= 0, got {self.sparsity}")
        _check(self.temperature_start >= self.temperature_end > 0, "temperature_end",
               "need temperature_start >= temperature_end > 0")


class Examples(NamedTuple):
    """Interchange examples: patch `source` into `base` (prompt indices) and expect token `target`."""

    base: torch.Tensor
    source: torch.Tensor
    target: torch.Tensor

    def __len__(self) -> int:
        return len(self.base)

    def take(self, idx: torch.Tensor) -> Examples:
        return Examples(self.base[idx], self.source[idx], self.target[idx])

    @staticmethod
    def cat(parts: list[Examples]) -> Examples:
        return Examples(*(torch.cat([getattr(p, k) for p in parts]) for k in Examples._fields))


def edit_delta(z_PKF: torch.Tensor, W_dec_FD: torch.Tensor, ex: Examples, mask_F: torch.Tensor) -> torch.Tensor:
    """x' - x_b of the intervention above, [B, K, D]: per example and site. z_PKF: latents of every prompt
    at its K sites."""
    return ((z_PKF[ex.source] - z_PKF[ex.base]) * mask_F) @ W_dec_FD


def temperatures(cfg: MaskTraining) -> torch.Tensor:
    return torch.logspace(math.log10(cfg.temperature_start), math.log10(cfg.temperature_end), cfg.steps,
                          dtype=torch.float64)


def train_mask(z_PKF: torch.Tensor, W_dec_FD: torch.Tensor, patched_logits: PatchedLogits, cause: Examples,
               isolation: Examples, cfg: MaskTraining) -> torch.Tensor:
    """Mask logits l [F] for one attribute; each step draws half its batch from `cause`, half from
    `isolation` (seeded), and minimises the mean cross-entropy of the two halves' targets plus the sparsity
    term. Latents that no example moves close (l < 0)."""
    if len(cause) == 0:
        raise ValueError("MDBM needs at least one cause example")
    logits_F = torch.zeros(z_PKF.shape[-1], device=z_PKF.device, requires_grad=True)
    opt = torch.optim.Adam([logits_F], lr=cfg.lr)
    gen = torch.Generator().manual_seed(cfg.seed)
    half = cfg.batch_size // 2
    parts = [p for p in (cause, isolation) if len(p)]
    for temp in temperatures(cfg).tolist():
        batch = [p.take(torch.randint(len(p), (half,), generator=gen)) for p in parts]
        ex = Examples.cat(batch)
        mask_F = torch.sigmoid(logits_F / temp)
        logits_BV = patched_logits(ex.base, edit_delta(z_PKF, W_dec_FD, ex, mask_F))
        # The mean of the per-objective means: cause and isolation weigh the same whatever the pool sizes.
        loss = F.cross_entropy(logits_BV.float(), ex.target, reduction="none").view(len(batch), half).mean(1).sum()
        loss = loss + cfg.sparsity * mask_F.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return logits_F.detach()


def hard_mask(logits_F: torch.Tensor) -> torch.Tensor:
    """The binary mask evaluated: sigmoid(l / T) > 0.5 for every T > 0."""
    return (logits_F > 0).float()


@torch.no_grad()
def hits(z_PKF: torch.Tensor, W_dec_FD: torch.Tensor, patched_logits: PatchedLogits, ex: Examples,
         mask_F: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Per example (bool [n]), whether its patched prediction (argmax) is its target."""
    out = []
    for i in range(0, len(ex), batch_size):
        part = ex.take(torch.arange(i, min(i + batch_size, len(ex))))
        pred_B = patched_logits(part.base, edit_delta(z_PKF, W_dec_FD, part, mask_F)).argmax(-1)
        out.append((pred_B == part.target).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.bool)


def accuracy(hits_N: torch.Tensor) -> float | None:
    """Fraction of examples whose patched prediction is their target (`hits`); None without examples."""
    return int(hits_N.sum()) / len(hits_N) if len(hits_N) else None


def pair_score(cause_a: float | None, cause_b: float | None, iso_ab: float | None,
               iso_ba: float | None) -> float | None:
    """RAVEL's disentanglement score of an attribute pair, as in arXiv 2602.14111 (sec. 5) and SAEBench:
    (cause_A + cause_B + iso_AB + iso_BA) / 4, with iso_AB the isolation of B under A's mask. None when a
    part is undefined (no example where the values differ)."""
    parts = (cause_a, cause_b, iso_ab, iso_ba)
    return None if any(p is None for p in parts) else sum(parts) / 4
