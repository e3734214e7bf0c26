"""Matched sparsity: arXiv 2602.14111 compares trained SAEs and random baselines at one L0, so an SAE that
ends far from its target L0 is not a point of that comparison. Every SAE is checked on held-out data; a miss
stops the build with the numbers, unless the config exempts the architecture with a reason, which the tables
then print beside its rows."""

from __future__ import annotations

from dataclasses import dataclass


class L0Mismatch(RuntimeError):
    """An SAE's held-out L0 is further from its target than the tolerance allows."""


@dataclass(frozen=True)
class L0Match:
    tolerance: float = 0.1
    """Largest allowed |L0 / target - 1| on held-out data."""
    exempt: str | None = None
    """Why this architecture may miss its target (saes.<group>.l0_match.exempt.<arch>); None: it may not."""


def check_l0(name: str, l0: float, target: float, match: L0Match) -> dict:
    """The record of the check (relative deviation, tolerance, exemption); raises L0Mismatch on a miss."""
    deviation = l0 / target - 1
    if abs(deviation) > match.tolerance and match.exempt is None:
        raise L0Mismatch(
            f"{name}: held-out L0 {l0:.2f} misses its target {target:g} by {deviation:+.1%} (tolerance "
            f"{match.tolerance:.0%}): its comparisons with other SAEs would mix sparsities. Fix the training "
            "(sparsity controller, budget) or exempt the architecture with a reason in "
            "saes.<group>.l0_match.exempt.<arch>")
    return {"l0_deviation": deviation, "l0_tolerance": match.tolerance, "l0_exempt": match.exempt}
