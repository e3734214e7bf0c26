"""Feature recovery against a known dictionary (arXiv 2602.14111, Eq. 6):
recovery(f_i) = max_j cos(f_i, W_dec[j]); feature i is recovered when this is >= 0.8."""

from __future__ import annotations

import numpy as np

RECOVERY_THRESHOLD = 0.8


def unit_rows(W: np.ndarray) -> np.ndarray:
    W = np.asarray(W, dtype=np.float64)
    return W / np.maximum(np.linalg.norm(W, axis=1, keepdims=True), 1e-12)


def max_cosine(true_FD: np.ndarray, learned_GD: np.ndarray, block: int = 4096) -> np.ndarray:
    """For each true feature, its largest cosine with any learned row, in blocks of true features."""
    A, B = unit_rows(true_FD), unit_rows(learned_GD)
    return np.concatenate([(A[i:i + block] @ B.T).max(1) for i in range(0, len(A), block)])


def recovered_fraction(max_cos_F: np.ndarray, threshold: float = RECOVERY_THRESHOLD) -> float:
    return float((max_cos_F >= threshold).mean())
