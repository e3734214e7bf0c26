"""Consistency between dictionaries (Song, Muhamed et al., arXiv 2505.20254).

MCC: rows L2-normalised, C = A1 A2^T (signed cosines), a one-to-one matching maximising the total cosine,
MCC = mean matched cosine. PW-MCC: MCC averaged over all pairs of seeds. Ground-truth MCC: the same function
between the true dictionary and a learned one. With dictionaries of different sizes the matching covers the
smaller one.

`mcc` picks the method by size. Up to `exact_max_latents` latents: the Hungarian algorithm on the dense
matrix (exact; cubic time, quadratic memory). Above: the sparse matching of
`saesanity.evals.consistency.sparse_matching` (candidate pairs from one blocked pass, min-weight matching on
them), which returns an upper bound on the optimum with the matching, so that the gap to the exact answer is
known without computing it.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from saesanity.evals.consistency.matching import MAX_EXACT_LATENTS, Matching
from saesanity.evals.consistency.sparse_matching import sparse_mcc
from saesanity.evals.recovery import cosine_matrix


def exact_mcc(A_FD: np.ndarray, B_GD: np.ndarray) -> Matching:
    """Exact MCC by the Hungarian algorithm on the dense float64 cosine matrix."""
    C = cosine_matrix(A_FD, B_GD)
    rows, cols = linear_sum_assignment(C, maximize=True)
    cos = C[rows, cols]
    value = float(cos.mean())
    return Matching(value, rows, cols, cos, "exact", value)


def mcc(A_FD: np.ndarray, B_GD: np.ndarray, exact_max_latents: int = MAX_EXACT_LATENTS,
        candidates: int = 8) -> Matching:
    """MCC between two dictionaries (rows are latents). Exact when both have at most `exact_max_latents`
    rows, else the sparse matching with `candidates` candidates per row and per column."""
    if max(len(A_FD), len(B_GD)) <= exact_max_latents:
        return exact_mcc(A_FD, B_GD)
    return sparse_mcc(A_FD, B_GD, candidates=candidates, exact_max_latents=exact_max_latents)


def pairwise_mcc(dictionaries: Sequence[np.ndarray], **mcc_kw) -> tuple[float, list[Matching]]:
    """PW-MCC: the mean MCC over all pairs, and each pair's matching (in itertools.combinations order)."""
    if len(dictionaries) < 2:
        raise ValueError(f"PW-MCC needs at least two dictionaries, got {len(dictionaries)}")
    pairs = [mcc(a, b, **mcc_kw) for a, b in itertools.combinations(dictionaries, 2)]
    return float(np.mean([m.mcc for m in pairs])), pairs


# A latent is shared between two runs when its match has cosine > 0.7 on both encoder and decoder
# (Paulo and Belrose, arXiv 2501.16615, sec. 3).
SHARED_THRESHOLD = 0.7


def shared_fraction(m: Matching, enc_a_FD: np.ndarray, enc_b_GD: np.ndarray,
                    threshold: float = SHARED_THRESHOLD) -> float:
    """Fraction of the matched pairs (matched on the decoders: `m`) whose decoder cosine and encoder cosine
    both exceed `threshold`. Encoders are given as one row per latent (W_enc transposed)."""
    a = enc_a_FD[m.rows].astype(np.float64)
    b = enc_b_GD[m.cols].astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    enc_cos = (a * b).sum(1) / np.maximum(norms, 1e-12)
    return float(((m.cosines > threshold) & (enc_cos > threshold)).mean())
