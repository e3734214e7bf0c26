"""Meta-SAEs (Leask et al., "Sparse Autoencoders Do Not Find Canonical Units of Analysis", arXiv 2502.04878,
section on meta-SAEs): a BatchTopK SAE trained on the unit-norm decoder rows of another SAE, so that each
base latent's direction is written as a sparse combination (k = 4 in the paper) of meta-latents. When the
meta-SAE explains much of the decoder's variance (55.47% in the paper), base latents are not atomic: they
share parts ("Einstein" = scientist + Germany + famous person).

The meta-SAE is our BatchTopKSAE, trained by the trainer's own step (saesanity.train.train_step: AdamW,
unit decoder rows, AuxK on dead latents) in memory: the rows are the whole data set, visited for n_epochs
in a seeded order. As the trainer does, it trains on rows times sqrt(d_in) (E||x||^2 = d_in, the scale the
learning rates are meant for) and folds the scale back, and sets its inference threshold on all rows at
the end (BatchTopK's `finish`), so that encode() fires k meta-latents per row on average.

Decoder variance explained: 1 - ||D - D_hat||^2 / ||D - mean(D)||^2 over the unit rows D (Eq. 5 of arXiv
2602.14111 applied to the rows)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from saesanity.config import SAEConfig, TrainConfig, _check
from saesanity.sae.batchtopk import BatchTopKSAE
from saesanity.studies.stitching import unit_rows


@dataclass(frozen=True)
class MetaSAEConfig:
    """One meta-SAE (arXiv 2502.04878); the lead mirrors it in the config schema."""

    d_meta: int = 256
    """Meta-latents. The paper's ratio is about 1:21 (2304 meta-latents for a 49,152-latent SAE); a toy
    SAE of a few thousand latents needs more than that ratio gives to be more than a handful."""
    k: int = 4
    """Mean active meta-latents per row (BatchTopK's k), as in the paper."""
    n_epochs: int = 400
    """Passes over the rows."""
    batch_size: int = 512
    lr: float = 1e-3
    seed: int = 0
    """Initial dictionary and row order."""
    concept_floor: float = 0.2
    """Toy world: a base latent counts as an entity latent when its best concept is an entity at F1 >= this."""
    concept_rows: int | None = 65_536
    """Held-out rows of the concept check; None: all."""
    min_latents: int = 8
    """Fewer entity latents than this: the attribute alignment is 'too few to say'."""
    min_pairs: int = 20
    """Fewer pairs of entity latents sharing a meta-latent than this: 'too few to say'."""

    def __post_init__(self) -> None:
        for key in ("d_meta", "k", "n_epochs", "batch_size", "min_latents", "min_pairs"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.k <= self.d_meta, "k", f"must be <= d_meta ({self.d_meta})")
        _check(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _check(0 <= self.concept_floor <= 1, "concept_floor", "must be in [0, 1]")
        _check(self.concept_rows is None or self.concept_rows > 0, "concept_rows", "must be positive or null")


def train_meta_sae(rows_ND: torch.Tensor, cfg: MetaSAEConfig) -> BatchTopKSAE:
    """A BatchTopK SAE trained on the rows (normalised to unit norm here), deterministic for a seed and a
    thread count."""
    from saesanity.sae.variants import initialise
    from saesanity.train import lr_at, make_optimizer, train_step
    X = unit_rows(rows_ND).float()
    n, d = X.shape
    scale = math.sqrt(d)
    X = X * scale
    batch = min(cfg.batch_size, n)
    steps_per_epoch = math.ceil(n / batch)
    n_steps = cfg.n_epochs * steps_per_epoch
    # A meta-latent is dead (AuxK revives it) after 10 epochs without firing.
    sae = BatchTopKSAE(SAEConfig(arch="batchtopk", d_in=d, d_sae=cfg.d_meta, target_l0=cfg.k, seed=cfg.seed,
                                 options={"dead_after": 10 * n}))
    W0_FD = initialise(sae, X.mean(0), None)
    tc = TrainConfig(n_samples=n_steps * batch, batch_size=batch, lr=cfg.lr, stats_samples=n)
    opt = make_optimizer(sae, tc)
    gen = torch.Generator().manual_seed(cfg.seed)
    sae.train()
    step = 0
    for _ in range(cfg.n_epochs):
        order = torch.randperm(n, generator=gen)
        for i in range(0, n, batch):
            train_step(sae, opt, X[order[i:i + batch]], W0_FD, lr_at(step, n_steps, tc), step)
            step += 1
    with torch.no_grad():
        sae.finish(X)
        sae.fold_input_scale(scale)
    return sae.eval()


def random_rows_variance_explained(n: int, d: int, cfg: MetaSAEConfig) -> float:
    """The meta-SAE's baseline: the decoder variance it explains on n random unit rows of dimension d (uniform
    on the sphere, seeded by cfg.seed), trained exactly as on a real decoder. A meta-SAE with d_meta latents
    at k active reconstructs part of any row set by capacity alone; only the excess over this is structure."""
    from saesanity.sae.variants import random_directions
    rows_ND = random_directions(n, d, "iso", torch.Generator().manual_seed(cfg.seed))
    meta = train_meta_sae(rows_ND, cfg)
    with torch.no_grad():
        return decoder_variance_explained(rows_ND, meta.decode(meta.encode(rows_ND)))


@torch.no_grad()
def decoder_variance_explained(D_ND: torch.Tensor, D_hat_ND: torch.Tensor) -> float:
    D, Dh = D_ND.double(), D_hat_ND.double()
    return 1 - float((D - Dh).pow(2).sum() / (D - D.mean(0)).pow(2).sum())


@torch.no_grad()
def meta_metrics(meta: BatchTopKSAE, rows_ND: torch.Tensor, max_members: int | None = None) -> tuple[dict, np.ndarray]:
    """The record of a trained meta-SAE on the base SAE's decoder rows, and the [n_base, d_meta] mask of
    active meta-latents. Per meta-latent: the base latents it is active on, by activation (descending;
    the first `max_members` where given)."""
    D = unit_rows(rows_ND).float()
    A = meta.encode(D)
    active = (A > 0).numpy()
    per_row = active.sum(1)
    counts = active.sum(0)
    members = []
    for m in range(A.shape[1]):
        idx = np.flatnonzero(active[:, m])
        idx = idx[np.argsort(-A[idx, m].numpy(), kind="stable")]
        members.append((idx if max_members is None else idx[:max_members]).tolist())
    return {
        "n_base": len(D), "d_meta": meta.cfg.d_sae, "k": meta.k,
        "decoder_variance_explained": decoder_variance_explained(D, meta.decode(A)),
        "mean_active_per_row": float(per_row.mean()), "rows_without_meta": int((per_row == 0).sum()),
        "dead_meta": int((counts == 0).sum()), "dead_meta_fraction": float((counts == 0).mean()),
        "mean_rows_per_meta": float(counts.mean()), "max_rows_per_meta": int(counts.max()),
        "meta_members": members,
    }, active
