"""Consistency between dictionaries (Song, Muhamed et al., arXiv 2505.20254).

MCC: rows L2-normalised, C = A1 A2^T (signed cosines), a one-to-one matching maximising the total cosine
(Hungarian), MCC = mean matched cosine. PW-MCC: MCC averaged over all pairs of seeds. Ground-truth MCC:
the same function between the true dictionary and a learned one. With dictionaries of different sizes
the matching covers the smaller one."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from saesanity.evals.recovery import cosine_matrix


@dataclass(frozen=True)
class Matching:
    mcc: float
    rows: np.ndarray
    cols: np.ndarray
    cosines: np.ndarray
    """Matched cosines, one per matched pair."""


# Above this many latents the dense Hungarian matching needs tens of GB and hours (arXiv 2501.16615 reports
# 8 h and 300 GB at 131k); a sparse large-scale matching is the way there.
MAX_EXACT_LATENTS = 16_384


def mcc(A_FD: np.ndarray, B_GD: np.ndarray) -> Matching:
    """Exact MCC by the Hungarian algorithm on the dense cosine matrix (cubic time, quadratic memory)."""
    if max(len(A_FD), len(B_GD)) > MAX_EXACT_LATENTS:
        raise ValueError(f"exact MCC is limited to {MAX_EXACT_LATENTS} latents per dictionary; got "
                         f"{len(A_FD)} and {len(B_GD)}")
    C = cosine_matrix(A_FD, B_GD)
    rows, cols = linear_sum_assignment(C, maximize=True)
    cos = C[rows, cols]
    return Matching(float(cos.mean()), rows, cols, cos)


def pairwise_mcc(dictionaries: Sequence[np.ndarray]) -> tuple[float, list[float]]:
    """PW-MCC: the mean MCC over all pairs, and the per-pair values (in itertools.combinations order)."""
    if len(dictionaries) < 2:
        raise ValueError(f"PW-MCC needs at least two dictionaries, got {len(dictionaries)}")
    pairs = [mcc(a, b).mcc for a, b in itertools.combinations(dictionaries, 2)]
    return float(np.mean(pairs)), pairs
