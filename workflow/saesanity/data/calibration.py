"""What training starts from, read off a uniform random sample of a store's rows: the data mean (b_dec's
init), the covariance (the `cov` baselines of arXiv 2602.14111, sec. 4), the activation scale, and the rows
that calibrate biases and thresholds.

The rows are drawn uniformly from the whole store, never its first rows: a language-model store is in
(document, position) order, so its first rows are a few documents, and at a large dictionary a threshold
read off them would describe those documents only.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from saesanity.data.store import ActivationStore

CALIBRATION_ROWS = 8192
"""Rows of the sample kept (in random order) to calibrate biases and thresholds at init and after training."""


class ActivationStats(NamedTuple):
    mean_D: torch.Tensor
    """float32 [d]: the sample mean."""
    cov_DD: torch.Tensor
    """float64 [d, d]: the centred covariance, E[(x - mean)(x - mean)^T] (normalised by n)."""
    scale: float
    """The factor that makes E||scale * x||^2 = d on the sample (1.0 when normalisation is off)."""
    sample_ND: torch.Tensor
    """float32 [min(n, CALIBRATION_ROWS), d]: sampled rows in random order, for calibration."""
    n: int
    """Rows in the sample."""

    def scaled(self) -> ActivationStats:
        """The same statistics for activations multiplied by `scale` (what the trainer sees)."""
        s = self.scale
        return ActivationStats(self.mean_D * s, self.cov_DD * s * s, 1.0, self.sample_ND * s, self.n)


def sample_rows(store: ActivationStore, n: int, rng: np.random.Generator) -> np.ndarray:
    """float32 [min(n, count), d]: rows drawn uniformly without replacement from the whole store, in random
    order. One streaming pass over the store's `act` column; memory is the sample and one chunk."""
    n = min(n, store.count)
    rows = np.sort(rng.choice(store.count, size=n, replace=False))
    out = np.empty((n, store.d), np.float32)
    start, taken = 0, 0
    for chunk in store.iter_chunks():
        stop = start + len(chunk)
        hi = np.searchsorted(rows, stop, side="left")
        out[taken:hi] = chunk[rows[taken:hi] - start]
        taken, start = hi, stop
        if taken == n:
            break
    return out[rng.permutation(n)]


def activation_stats(store: ActivationStore, n: int, seed: list[int] | int, normalize: bool = True
                     ) -> ActivationStats:
    """Mean, centred covariance (float64) and scale of `n` uniformly drawn rows, and CALIBRATION_ROWS of
    them for calibration. With `normalize`, scale = sqrt(d / mean ||x||^2): the fixed normalisation of
    SAELens (`normalize_activations: expected_average_only_in`) and of the JumpReLU paper (arXiv 2407.14435,
    sec. 5), computed on the same random rows."""
    x_ND = torch.from_numpy(sample_rows(store, n, np.random.default_rng(seed)))
    x64 = x_ND.double()
    mean_D = x64.mean(0)
    xc = x64 - mean_D
    cov_DD = xc.T @ xc / len(x64)
    scale = 1.0
    if normalize:
        mean_sq = float(x64.pow(2).sum(1).mean())
        if mean_sq <= 0:
            raise ValueError(f"{store.folder}: the sampled activations are all zero; nothing to normalise")
        scale = (store.d / mean_sq) ** 0.5
    return ActivationStats(mean_D.float(), cov_DD, scale, x_ND[:CALIBRATION_ROWS].clone(), len(x_ND))
