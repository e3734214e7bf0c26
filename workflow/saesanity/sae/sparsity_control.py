"""Matched sparsity (arXiv 2602.14111 compares architectures at one L0): ReLU/L1 and JumpReLU have no k,
so their sparsity coefficient is steered to the target L0 during training by an integral controller in
log space. The coefficient only ever changes by a bounded factor per step, so it cannot blow up."""

from __future__ import annotations

import math


class L0Controller:
    def __init__(self, target_l0: float, coef_init: float, rate: float, max_log_step: float = 1.0):
        self.target = target_l0
        self.log_coef = math.log(coef_init)
        self.rate = rate
        self.max_log_step = max_log_step

    @property
    def coef(self) -> float:
        return math.exp(self.log_coef)

    def update(self, l0: float) -> None:
        """Raises the coefficient while L0 is above target, lowers it while below."""
        error = math.log(max(l0, 1e-3) / self.target)
        self.log_coef += self.rate * max(-self.max_log_step, min(self.max_log_step, error))
