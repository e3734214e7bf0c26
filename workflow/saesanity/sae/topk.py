"""TopK SAE (Gao et al., arXiv 2406.04093): z = ReLU(TopK_k(W_enc^T (x - b_dec) + b_enc)), exactly <= k
active latents per row, with the AuxK loss on dead latents."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from saesanity.sae.auxk import DeadLatentTracker, auxk_error, auxk_loss, dead_topk
from saesanity.sae.base import SAE, TrainOutput, reconstruction_loss
from saesanity.sae.kernels import row_topk
from saesanity.sae.sparse import Latents, select_topk, sparse_decode


@dataclass(frozen=True)
class AuxKOptions:
    aux_k: int | None = None
    """Dead latents used by AuxK; None means d_in // 2 (as in SAELens)."""
    aux_coef: float = 1 / 32
    """Weight of the AuxK loss (arXiv 2406.04093, alpha = 1/32)."""
    dead_after: int = 1_000_000
    """A latent is dead after this many training samples without firing."""


def auxk_term(sae: SAE, tracker: DeadLatentTracker, latents: Latents, pre_BF: torch.Tensor, xc_BD: torch.Tensor,
              x_BD: torch.Tensor, x_hat_BD: torch.Tensor) -> torch.Tensor:
    """On the dense path `pre_BF` carries the encoder's graph; on the sparse path (`latents.sel` set) it is
    detached, and the dead latents' pre-activations are gathered from `xc_BD` = x - b_dec."""
    tracker.update(latents.fired_F(sae.cfg.d_sae), len(x_BD))
    aux_k = sae.opts.aux_k or max(1, sae.cfg.d_in // 2)
    x_var = (x_BD - x_BD.mean(0)).pow(2).sum(-1).mean().detach()
    if latents.sel is None:
        return auxk_loss(pre_BF, tracker.dead_F, x_BD - x_hat_BD, sae.W_dec, aux_k, x_var)
    top = dead_topk(pre_BF, tracker.dead_F, aux_k)
    if top is None:
        return pre_BF.new_zeros(())
    sel = select_topk(top[1], sae.cfg.d_sae)
    # top[0] are the dead latents' pre-activations themselves (no -inf: at most n_dead are taken).
    e_hat_BD = sparse_decode(sae.gather_preacts(xc_BD, pre_BF, sel, top[0].reshape(-1)).relu(), sel, sae.W_dec)
    return auxk_error(e_hat_BD, x_BD - x_hat_BD, x_var)


class TopKSAE(SAE):
    arch = "topk"
    saelens_architecture = "topk"
    Options = AuxKOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.k = int(round(cfg.target_l0))
        self.tracker = DeadLatentTracker(cfg.d_sae, self.opts.dead_after)

    def _topk(self, pre_BF: torch.Tensor) -> torch.Tensor:
        vals_BK, idx_BK = row_topk(pre_BF, self.k, sorted=False)
        return torch.zeros_like(pre_BF).scatter(-1, idx_BK, vals_BK.relu())

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        return self._topk(self.pre_acts(x_BD))

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        if self.sparse_path:
            xc_BD, pre_BF = self.split_preacts(x_BD)
            vals_BK, idx_BK = row_topk(pre_BF, self.k, sorted=False)
            sel = select_topk(idx_BK, self.cfg.d_sae)
            latents = Latents(self.gather_preacts(xc_BD, pre_BF, sel, vals_BK.reshape(-1)).relu(), sel)
            x_hat_BD = sparse_decode(latents.z, sel, self.W_dec) + self.b_dec
        else:
            xc_BD, pre_BF = None, self.pre_acts(x_BD)
            latents = Latents(self._topk(pre_BF))
            x_hat_BD = self.decode(latents.z)
        mse = reconstruction_loss(x_BD, x_hat_BD)
        aux = auxk_term(self, self.tracker, latents, pre_BF, xc_BD, x_BD, x_hat_BD)
        return TrainOutput(x_hat_BD, latents, mse + self.opts.aux_coef * aux,
                           {"mse": mse.item(), "auxk": aux.item(), "dead": float(self.tracker.dead_F.float().mean())})

    def saelens_cfg_fields(self) -> dict[str, Any]:
        return {"k": self.k, "rescale_acts_by_decoder_norm": False}
