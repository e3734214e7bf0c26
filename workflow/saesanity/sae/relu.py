"""ReLU SAE with an L1 penalty (Bricken et al. 2023, "Towards Monosemanticity"): z = ReLU(W_enc^T (x - b_dec) + b_enc),
loss = ||x - x_hat||^2 + lambda * ||z||_1. Decoder rows are kept at unit norm by the trainer, so the plain
L1 equals the decoder-norm-weighted one. b_enc is calibrated at init so every latent fires at rate
target_l0 / d_sae; lambda is then steered to the target L0 (saesanity.sae.sparsity_control)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saesanity.sae.base import (SAE, TrainOutput, calibration_rows, cut_between, firing_quantile, l0_record,
                                mean_l0, reconstruction_loss)
from saesanity.sae.sparse import DENSE_ABOVE, Latents, select_above, sparse_decode
from saesanity.sae.sparsity_control import L0Controller


@dataclass(frozen=True)
class ReLUOptions:
    l1_coef_init: float = 0.05
    """Starting L1 coefficient; the controller moves it to reach the target L0."""
    control_rate: float = 0.02
    """Controller's integral gain: log-coefficient change per step per unit of log(L0 / target)."""
    control_gain: float = 2.0
    """Controller's proportional gain (saesanity.sae.sparsity_control): the log-coefficient moves by this
    times log(L0 / target) at once."""
    calibrate_l0: bool = True
    """After training, shift every encoder bias by one common amount so that L0 equals the target on the
    calibration rows; the shift and the L0 before it are recorded (see JumpReLU's calibrate_l0)."""


class ReLUSAE(SAE):
    arch = "relu"
    saelens_architecture = "standard"
    Options = ReLUOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.controller = L0Controller(cfg.target_l0, self.opts.l1_coef_init, self.opts.control_rate,
                                       self.opts.control_gain)

    @torch.no_grad()
    def calibrate(self, x_ND: torch.Tensor) -> None:
        self.b_enc -= firing_quantile(self.pre_acts(x_ND), self.cfg.target_l0)

    @torch.no_grad()
    def finish(self, x_ND: torch.Tensor) -> None:
        """With calibrate_l0: b_enc minus the cut that leaves target_l0 * N entries of N calibration rows
        above zero."""
        pre_NF = self.pre_acts(calibration_rows(x_ND, self.cfg.d_sae))
        l0_before = mean_l0(pre_NF > 0)
        shift = torch.zeros(())
        if self.opts.calibrate_l0:
            shift = cut_between(pre_NF, int(round(self.cfg.target_l0 * len(pre_NF))))
            self.b_enc -= shift
            pre_NF -= shift
        self.calibration_record = l0_record(pre_NF > 0, l0_before, shift)

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        return self.pre_acts(x_BD).relu()

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        latents = None
        if self.sparse_path:
            xc_BD, pre_BF = self.split_preacts(x_BD)
            sel = select_above(pre_BF, 0)
            if sel.density <= DENSE_ABOVE:
                latents = Latents(self.gather_preacts(xc_BD, pre_BF, sel).relu(), sel)
                x_hat_BD = sparse_decode(latents.z, sel, self.W_dec) + self.b_dec
        if latents is None:
            latents = Latents(self.encode(x_BD))
            x_hat_BD = self.decode(latents.z)
        mse = reconstruction_loss(x_BD, x_hat_BD)
        l1 = latents.z.sum() / len(x_BD)
        coef = self.controller.coef
        l0 = latents.l0()
        self.controller.update(l0)
        return TrainOutput(x_hat_BD, latents, mse + coef * l1,
                           {"mse": mse.item(), "l1": l1.item(), "sparsity_coef": coef})
