"""Core metrics over a held-out store, streamed in chunks.

Explained variance is Eq. 5 of arXiv 2602.14111: EV = 1 - E||x - x_hat||^2 / E||x - E[x]||^2, around the
data mean (SAEBench and older SAELens measured around zero, which inflates EV)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from saesanity.data.store import ActivationStore
from saesanity.sae.base import SAE

# arXiv 2602.14111 (SAEBench): a latent is dead when it fires on fewer than this fraction of tokens.
DEAD_FREQUENCY = 1e-6


@dataclass(frozen=True)
class CoreMetrics:
    explained_variance: float
    l0: float
    dead_fraction: float
    mse: float
    n_samples: int


class CoreAccumulator:
    """Sums, in float64, what EV, L0 and firing frequencies need, one batch at a time."""

    def __init__(self, d: int, d_sae: int):
        self.n = 0
        self.sq_err = 0.0
        self.sum_D = np.zeros(d)
        self.sum_sq = 0.0
        self.active = 0
        self.fires_F = np.zeros(d_sae, dtype=np.int64)

    def add(self, x_BD: torch.Tensor, x_hat_BD: torch.Tensor, z_BF: torch.Tensor) -> None:
        x = x_BD.double()
        self.n += len(x)
        self.sq_err += float((x - x_hat_BD.double()).pow(2).sum())
        self.sum_D += x.sum(0).numpy()
        self.sum_sq += float(x.pow(2).sum())
        fired_BF = z_BF != 0
        self.active += int(fired_BF.sum())
        self.fires_F += fired_BF.sum(0).numpy()

    def result(self) -> CoreMetrics:
        mean_D = self.sum_D / self.n
        total_var = self.sum_sq / self.n - float(mean_D @ mean_D)
        mse = self.sq_err / self.n
        return CoreMetrics(explained_variance=1 - mse / total_var, l0=self.active / self.n,
                           dead_fraction=float((self.fires_F / self.n < DEAD_FREQUENCY).mean()),
                           mse=mse, n_samples=self.n)


@torch.no_grad()
def evaluate_core(sae: SAE, store: ActivationStore, chunk_rows: int = 8192, limit: int | None = None) -> CoreMetrics:
    sae.eval()
    acc = CoreAccumulator(store.d, sae.cfg.d_sae)
    for x in store.iter_chunks(chunk_rows=chunk_rows, limit=limit):
        x_BD = torch.from_numpy(x)
        z_BF = sae.encode(x_BD)
        acc.add(x_BD, sae.decode(z_BF), z_BF)
    return acc.result()
