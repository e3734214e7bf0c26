"""What a matching of two dictionaries is (`Matching`), and up to which size it is computed exactly. Its own
module so that the exact side (mcc.py) and the sparse side (sparse_matching.py) both use it without
importing each other."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# The exact matching of two 131k-latent SAEs took 8 h and over 300 GB of RAM (arXiv 2501.16615); at 16,384
# latents it takes minutes and 2 GB (benchmarks/mcc_scale.py). Above this the sparse matching is used.
MAX_EXACT_LATENTS = 16_384


@dataclass(frozen=True)
class Matching:
    mcc: float
    rows: np.ndarray
    """Matched latents of the first dictionary (all of them when it is the smaller one)."""
    cols: np.ndarray
    cosines: np.ndarray
    """Matched cosines, one per matched pair."""
    method: str = "exact"
    """'exact' (Hungarian on the dense matrix) or 'sparse' (saesanity.evals.consistency.sparse_matching)."""
    upper_bound: float = float("nan")
    """A certificate: no matching has a higher MCC. Equal to `mcc` for the exact method."""

    @property
    def gap(self) -> float:
        """How far the MCC may be below the optimum (0 for the exact method)."""
        return self.upper_bound - self.mcc
