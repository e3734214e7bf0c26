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

from saesanity.sae.base import SAE, TrainOutput, firing_quantile, reconstruction_loss
from saesanity.sae.sparse import DENSE_ABOVE, Latents, select_mask, sparse_decode
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
    """epsilon of the rectangle kernel, in units of the pre-activations' standard deviation at init."""
    threshold_init: float = 0.25
    """Initial threshold theta_0, in the same units."""
    l0_coef_init: float = 0.01
    """Starting L0 coefficient; the controller moves it to reach the target L0."""
    control_rate: float = 0.02


class JumpReLUSAE(SAE):
    arch = "jumprelu"
    saelens_architecture = "jumprelu"
    Options = JumpReLUOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.threshold = torch.nn.Parameter(torch.zeros(cfg.d_sae))
        self.controller = L0Controller(cfg.target_l0, self.opts.l0_coef_init, self.opts.control_rate)
        self.pre_scale = 1.0
        """Standard deviation of the pre-activations at init: the unit of bandwidth and threshold_init."""

    def init_extra(self) -> None:
        with torch.no_grad():
            self.threshold.fill_(self.opts.threshold_init * self.pre_scale)

    @torch.no_grad()
    def calibrate(self, x_ND: torch.Tensor) -> None:
        """Shifts b_enc so every latent crosses a small threshold theta_0 at rate target_l0 / d_sae: training
        starts at the target L0 with small activations, rather than with full-size random ones that the
        reconstruction gradient would switch off by raising every threshold at once."""
        pre_NF = self.pre_acts(x_ND)
        self.pre_scale = float(pre_NF.std())
        theta0 = self.opts.threshold_init * self.pre_scale
        self.b_enc += theta0 - firing_quantile(pre_NF, self.cfg.target_l0)
        self.threshold.fill_(theta0)

    def after_step(self) -> None:
        with torch.no_grad():
            self.threshold.clamp_(min=0.0)

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        pre_BF = self.pre_acts(x_BD)
        return pre_BF * (pre_BF > self.threshold)

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        eps = self.opts.bandwidth * self.pre_scale
        latents = None
        if self.sparse_path:
            # The entries with a gradient: the active ones (pre > theta) and, for theta's straight-through
            # gradient, those inside the kernel's window (theta - eps/2, theta + eps/2). The selection
            # reaches down to theta - eps, a margin against rounding at the window's edge: entries selected
            # outside the window get a zero gradient from the exact kernel evaluated on them.
            xc_BD, pre_BF = self.split_preacts(x_BD)
            with torch.no_grad():
                sel = select_mask(pre_BF > self.threshold - eps)
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
