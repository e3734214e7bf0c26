"""Matched sparsity (arXiv 2602.14111 compares architectures at one L0): ReLU/L1 and JumpReLU have no k,
so their sparsity coefficient is steered to the target L0 during training by a proportional-integral
controller in log space: log coef = log coef_I + gain * e, log coef_I += rate * e, e = log(L0 / target),
clipped per step so the coefficient cannot blow up.

Why the proportional term: under Adam a threshold or bias moves by about lr per step whatever the size of
its gradient, so the coefficient acts almost as a switch (above its balance point the latents close at a
fixed speed, below it they open). A purely integral controller is still far past the balance point when L0
reaches its target, and L0 overshoots by as much again (JumpReLU ended at L0 23-29 for 16); the
proportional term drops the coefficient below the balance point as soon as L0 crosses the target."""

from __future__ import annotations

import math


class L0Controller:
    def __init__(self, target_l0: float, coef_init: float, rate: float, gain: float = 0.0,
                 max_log_step: float = 1.0):
        self.target = target_l0
        self.log_coef_i = math.log(coef_init)
        self.rate, self.gain = rate, gain
        self.max_log_step = max_log_step
        self.error = 0.0

    @property
    def coef(self) -> float:
        return math.exp(self.log_coef_i + self.gain * self.error)

    def update(self, l0: float) -> None:
        """Raises the coefficient while L0 is above target, lowers it while below."""
        self.error = max(-self.max_log_step, min(self.max_log_step, math.log(max(l0, 1e-3) / self.target)))
        self.log_coef_i += self.rate * self.error
