"""JumpReLU SAE (Rajamanoharan et al., arXiv 2407.14435): z = pre * H(pre - theta), one threshold per latent,
loss = ||x - x_hat||^2 + lambda * ||z||_0.

H has no useful gradient, so theta learns through straight-through estimators with a rectangle kernel
K(u) = 1[|u| < 1/2] of bandwidth epsilon (their Eqs. 11-12):
  d JumpReLU / d theta = -(theta / eps) K((pre - theta) / eps)
  d H(pre - theta) / d theta = -(1 / eps) K((pre - theta) / eps)
theta is a raw parameter (not log), which trains better under Adam. b_enc is calibrated at init so that the
target L0 holds on a data sample, and lambda is then steered to the target L0."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saesanity.sae.base import (SAE, TrainOutput, calibration_rows, cut_between, firing_quantile, l0_record,
                                mean_l0, reconstruction_loss)
from saesanity.sae.sparse import DENSE_ABOVE, Latents, select_above, sparse_decode
from saesanity.sae.sparsity_control import L0Controller


def _rect(u: torch.Tensor) -> torch.Tensor:
    return ((u > -0.5) & (u < 0.5)).to(u.dtype)


def _to_theta_shape(grad: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Dense path: theta_F broadcasts over the batch, so its gradient sums over rows. Sparse path: one
    theta per selected entry, summed per latent by the gather's backward."""
    return grad.sum(0) if grad.dim() > theta.dim() else grad


class _JumpReLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre_BF, theta_F, eps: float):
        ctx.save_for_backward(pre_BF, theta_F)
        ctx.eps = eps
        return pre_BF * (pre_BF > theta_F)

    @staticmethod
    def backward(ctx, grad_BF):
        pre_BF, theta_F = ctx.saved_tensors
        eps = ctx.eps
        grad_pre = grad_BF * (pre_BF > theta_F)
        grad_theta = _to_theta_shape(grad_BF * -(theta_F / eps) * _rect((pre_BF - theta_F) / eps), theta_F)
        return grad_pre, grad_theta, None


class _Step(torch.autograd.Function):
    @staticmethod
    def forward(ctx, pre_BF, theta_F, eps: float):
        ctx.save_for_backward(pre_BF, theta_F)
        ctx.eps = eps
        return (pre_BF > theta_F).to(pre_BF.dtype)

    @staticmethod
    def backward(ctx, grad_BF):
        pre_BF, theta_F = ctx.saved_tensors
        eps = ctx.eps
        grad_theta = _to_theta_shape(grad_BF * -(1.0 / eps) * _rect((pre_BF - theta_F) / eps), theta_F)
        return torch.zeros_like(pre_BF), grad_theta, None


@dataclass(frozen=True)
class JumpReLUOptions:
    bandwidth: float = 0.1
    """epsilon of the rectangle kernel, in units of the normalised activations (train.normalize_activations:
    E||x||^2 = d, so a pre-activation along a unit encoder direction is of order 1)."""
    threshold_init: float = 0.25
    """Initial threshold theta_0, in the same units."""
    l0_coef_init: float = 0.01
    """Starting L0 coefficient; the controller moves it to reach the target L0."""
    control_rate: float = 0.02
    """Controller's integral gain: log-coefficient change per step per unit of log(L0 / target)."""
    control_gain: float = 2.0
    """Controller's proportional gain (saesanity.sae.sparsity_control): the log-coefficient moves by this
    times log(L0 / target) at once."""
    threshold_lr_scale: float = 1.0
    """The thresholds' learning rate is train.lr times this. Under Adam a parameter moves about lr per step
    at most, and a threshold's gradient is sparse (only entries inside the kernel's window give one) while
    b_enc's is dense: at a large lr on a real model's activations the pre-activations outrun the thresholds
    and L0 climbs past the target whatever the coefficient (measured on SmolLM2: docs/language-model.md)."""
    calibrate_l0: bool = True
    """After training, scale every threshold by one common factor so that L0 equals the target on the
    calibration rows (as BatchTopK's inference threshold is set); the factor and the L0 before it are
    recorded. Under Adam a threshold moves by about lr per step, so a short run can end off target."""


class JumpReLUSAE(SAE):
    arch = "jumprelu"
    saelens_architecture = "jumprelu"
    Options = JumpReLUOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.threshold = torch.nn.Parameter(torch.zeros(cfg.d_sae))
        self.controller = L0Controller(cfg.target_l0, self.opts.l0_coef_init, self.opts.control_rate,
                                       self.opts.control_gain)

    def init_extra(self) -> None:
        with torch.no_grad():
            self.threshold.fill_(self.opts.threshold_init)

    @torch.no_grad()
    def calibrate(self, x_ND: torch.Tensor) -> None:
        """Shifts b_enc so every latent crosses a small threshold theta_0 at rate target_l0 / d_sae: training
        starts at the target L0 with small activations, rather than with full-size random ones that the
        reconstruction gradient would switch off by raising every threshold at once."""
        self.b_enc += self.opts.threshold_init - firing_quantile(self.pre_acts(x_ND), self.cfg.target_l0)

    @torch.no_grad()
    def finish(self, x_ND: torch.Tensor) -> None:
        """With calibrate_l0: thresholds times the factor that leaves target_l0 * N entries of N calibration
        rows active. An entry is active when pre > a * theta, i.e. when pre / theta > a, so a is the cut
        between the (target_l0 * N)-th and the next largest ratio (a zero threshold's ratio is +inf)."""
        pre_NF = self.pre_acts(calibration_rows(x_ND, self.cfg.d_sae))
        l0_before = mean_l0(pre_NF > self.threshold)
        factor = torch.ones(())
        if self.opts.calibrate_l0:
            ratio_NF = torch.where(pre_NF > 0, pre_NF / self.threshold, torch.full_like(pre_NF, -torch.inf))
            cut = cut_between(ratio_NF, int(round(self.cfg.target_l0 * len(pre_NF))))
            if torch.isfinite(cut) and cut > 0:  # else no factor meets the target: the L0 check will say so
                factor = cut
                self.threshold.mul_(factor)
        self.calibration_record = l0_record(pre_NF > self.threshold, l0_before, factor)

    def after_step(self) -> None:
        with torch.no_grad():
            self.threshold.clamp_(min=0.0)

    def lr_scales(self) -> dict[torch.nn.Parameter, float]:
        return {self.threshold: self.opts.threshold_lr_scale}

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        pre_BF = self.pre_acts(x_BD)
        return pre_BF * (pre_BF > self.threshold)

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        eps = self.opts.bandwidth
        latents = None
        if self.sparse_path:
            # The entries with a gradient: the active ones (pre > theta) and, for theta's straight-through
            # gradient, those inside the kernel's window (theta - eps/2, theta + eps/2). The selection
            # reaches down to theta - eps, a margin against rounding at the window's edge: entries selected
            # outside the window get a zero gradient from the exact kernel evaluated on them.
            xc_BD, pre_BF = self.split_preacts(x_BD)
            with torch.no_grad():
                sel = select_above(pre_BF, self.threshold - eps)
            if sel.density <= DENSE_ABOVE:
                pre, theta = self.gather_preacts(xc_BD, pre_BF, sel), self.threshold.index_select(0, sel.cols_N)
                latents = Latents(_JumpReLU.apply(pre, theta, eps), sel)
                x_hat_BD = sparse_decode(latents.z, sel, self.W_dec) + self.b_dec
                active = _Step.apply(pre, theta, eps)
        if latents is None:
            pre_BF = self.pre_acts(x_BD)
            latents = Latents(_JumpReLU.apply(pre_BF, self.threshold, eps))
            x_hat_BD = self.decode(latents.z)
            active = _Step.apply(pre_BF, self.threshold, eps)
        mse = reconstruction_loss(x_BD, x_hat_BD)
        l0 = active.sum() / len(x_BD)
        coef = self.controller.coef
        self.controller.update(l0.item())
        return TrainOutput(x_hat_BD, latents, mse + coef * l0,
                           {"mse": mse.item(), "sparsity_coef": coef,
                            "threshold_mean": float(self.threshold.detach().mean())})

    def saelens_tensors(self) -> dict[str, torch.Tensor]:
        return {**super().saelens_tensors(), "threshold": self.threshold.detach()}

    def load_saelens_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_saelens_tensors(tensors)
        with torch.no_grad():
            self.threshold.copy_(tensors["threshold"])
