"""Core metrics over a held-out store, streamed in chunks.

Explained variance is Eq. 5 of arXiv 2602.14111: EV = 1 - E||x - x_hat||^2 / E||x - E[x]||^2, around the
data mean (SAEBench and older SAELens measured around zero, which inflates EV)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from saesanity.data.store import ActivationStore
from saesanity.sae.base import SAE

# arXiv 2602.14111 (SAEBench): a latent is dead when it fires on fewer than this fraction of tokens.
DEAD_FREQUENCY = 1e-6
EV_BLOCKS = 128
"""Contiguous blocks of held-out rows whose explained and total sums of squares core.json lists: EV is the ratio
of their sums, and the sanity verdict's bootstrap resamples them (saesanity.sanity.intervals)."""


@dataclass(frozen=True)
class CoreMetrics:
    explained_variance: float
    l0: float
    dead_fraction: float
    mse: float
    n_samples: int
    ev_blocks: dict = field(default_factory=dict)
    """block_rows, and per block of contiguous rows `explained` (total - squared error) and `total` (squared
    distance from the mean of all rows): EV = sum(explained) / sum(total)."""


class CoreAccumulator:
    """Sums, in float64, what EV, L0 and firing frequencies need, one batch at a time; `block_rows` > 0 also
    keeps the EV sums per block of that many contiguous rows."""

    def __init__(self, d: int, d_sae: int, block_rows: int = 0):
        self.n = 0
        self.sq_err = 0.0
        self.sum_D = np.zeros(d)
        self.sum_sq = 0.0
        self.active = 0
        self.fires_F = np.zeros(d_sae, dtype=np.int64)
        self.block_rows = block_rows
        self.block_err: list[float] = []
        self.block_sq: list[float] = []
        self.block_sum: list[np.ndarray] = []

    def add(self, x_BD: torch.Tensor, x_hat_BD: torch.Tensor, z_BF: torch.Tensor) -> None:
        x = x_BD.double()
        sq_BD = (x - x_hat_BD.double()).pow(2)
        if self.block_rows:
            self._add_blocks(x, sq_BD.sum(1))
        self.n += len(x)
        self.sq_err += float(sq_BD.sum())  # summed as before the blocks existed: the same bits in core.json
        self.sum_D += x.sum(0).numpy()
        self.sum_sq += float(x.pow(2).sum())
        fired_BF = z_BF != 0
        self.active += int(fired_BF.sum())
        self.fires_F += fired_BF.sum(0).numpy()

    def _add_blocks(self, x: torch.Tensor, err_B: torch.Tensor) -> None:
        block_B = (self.n + np.arange(len(x))) // self.block_rows
        for b in np.unique(block_B):
            rows = torch.from_numpy(block_B == b)
            if b == len(self.block_err):
                self.block_err.append(0.0)
                self.block_sq.append(0.0)
                self.block_sum.append(np.zeros(x.shape[1]))
            self.block_err[b] += float(err_B[rows].sum())
            self.block_sq[b] += float(x[rows].pow(2).sum())
            self.block_sum[b] += x[rows].sum(0).numpy()

    def _blocks(self, mean_D: np.ndarray) -> dict:
        if not self.block_rows:
            return {}
        counts = np.diff(np.minimum(np.arange(len(self.block_err) + 1) * self.block_rows, self.n))
        # sum over a block's rows of ||x - mean||^2 = sum ||x||^2 - 2 mean . sum x + n_rows ||mean||^2
        total = [sq - 2 * float(mean_D @ s) + c * float(mean_D @ mean_D)
                 for sq, s, c in zip(self.block_sq, self.block_sum, counts)]
        return {"block_rows": self.block_rows, "explained": [t - e for t, e in zip(total, self.block_err)],
                "total": total}

    def result(self) -> CoreMetrics:
        mean_D = self.sum_D / self.n
        total_var = self.sum_sq / self.n - float(mean_D @ mean_D)
        mse = self.sq_err / self.n
        return CoreMetrics(explained_variance=1 - mse / total_var, l0=self.active / self.n,
                           dead_fraction=float((self.fires_F / self.n < DEAD_FREQUENCY).mean()),
                           mse=mse, n_samples=self.n, ev_blocks=self._blocks(mean_D))


@torch.no_grad()
def evaluate_core(sae: SAE, store: ActivationStore, chunk_rows: int = 8192, limit: int | None = None) -> CoreMetrics:
    sae.eval()
    n = store.count if limit is None else min(limit, store.count)
    acc = CoreAccumulator(store.d, sae.cfg.d_sae, block_rows=-(-n // EV_BLOCKS))
    for x in store.iter_chunks(chunk_rows=chunk_rows, limit=limit):
        x_BD = torch.from_numpy(x)
        z_BF = sae.encode(x_BD)
        acc.add(x_BD, sae.decode(z_BF), z_BF)
    return acc.result()
