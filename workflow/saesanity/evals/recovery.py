"""Feature recovery against a known dictionary (arXiv 2602.14111, Eq. 6):
recovery(f_i) = max_j cos(f_i, W_dec[j]); feature i is recovered when this is >= 0.8."""

from __future__ import annotations

import numpy as np
import torch

RECOVERY_THRESHOLD = 0.8


def unit_rows(W) -> torch.Tensor:
    """Rows scaled to unit norm, in float64. Products run in torch, whose thread count the CLI sets, so
    the bytes do not depend on the machine's core count."""
    W = torch.as_tensor(np.asarray(W), dtype=torch.float64)
    return W / W.norm(dim=1, keepdim=True).clamp_min(1e-12)


def cosine_matrix(A_FD, B_GD) -> np.ndarray:
    return (unit_rows(A_FD) @ unit_rows(B_GD).T).numpy()


def max_cosine(true_FD, learned_GD, block: int = 4096) -> np.ndarray:
    """For each true feature, its largest cosine with any learned row, in blocks of true features."""
    A, B = unit_rows(true_FD), unit_rows(learned_GD)
    return torch.cat([(A[i:i + block] @ B.T).max(1).values for i in range(0, len(A), block)]).numpy()


def recovered_fraction(max_cos_F: np.ndarray, threshold: float = RECOVERY_THRESHOLD) -> float:
    return float((max_cos_F >= threshold).mean())
