"""TopK SAE (Gao et al., arXiv 2406.04093): z = ReLU(TopK_k(W_enc^T (x - b_dec) + b_enc)), exactly <= k
active latents per row, with the AuxK loss on dead latents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from saesanity.sae.auxk import DeadLatentTracker, auxk_loss
from saesanity.sae.base import SAE, TrainOutput, reconstruction_loss


@dataclass(frozen=True)
class AuxKOptions:
    aux_k: int | None = None
    """Dead latents used by AuxK; None means d_in // 2 (as in SAELens)."""
    aux_coef: float = 1 / 32
    """Weight of the AuxK loss (arXiv 2406.04093, alpha = 1/32)."""
    dead_after: int = 1_000_000
    """A latent is dead after this many training samples without firing."""


def auxk_term(sae: SAE, tracker: DeadLatentTracker, pre_BF: torch.Tensor, z_BF: torch.Tensor,
              x_BD: torch.Tensor, x_hat_BD: torch.Tensor) -> torch.Tensor:
    tracker.update(z_BF.detach())
    aux_k = sae.opts.aux_k or max(1, sae.cfg.d_in // 2)
    x_var = (x_BD - x_BD.mean(0)).pow(2).sum(-1).mean().detach()
    return auxk_loss(pre_BF, tracker.dead_F, x_BD - x_hat_BD, sae.W_dec, aux_k, x_var)


class TopKSAE(SAE):
    arch = "topk"
    saelens_architecture = "topk"
    Options = AuxKOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.k = int(round(cfg.target_l0))
        self.tracker = DeadLatentTracker(cfg.d_sae, self.opts.dead_after)

    def _topk(self, pre_BF: torch.Tensor) -> torch.Tensor:
        vals_BK, idx_BK = pre_BF.topk(self.k, dim=-1, sorted=False)
        return torch.zeros_like(pre_BF).scatter(-1, idx_BK, vals_BK.relu())

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        return self._topk(self.pre_acts(x_BD))

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        pre_BF = self.pre_acts(x_BD)
        z_BF = self._topk(pre_BF)
        x_hat_BD = self.decode(z_BF)
        mse = reconstruction_loss(x_BD, x_hat_BD)
        aux = auxk_term(self, self.tracker, pre_BF, z_BF, x_BD, x_hat_BD)
        return TrainOutput(x_hat_BD, z_BF, mse + self.opts.aux_coef * aux,
                           {"mse": mse.item(), "auxk": aux.item(), "dead": float(self.tracker.dead_F.float().mean())})

    def saelens_cfg_fields(self) -> dict[str, Any]:
        return {"k": self.k, "rescale_acts_by_decoder_norm": False}
