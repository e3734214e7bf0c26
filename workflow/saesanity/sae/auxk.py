"""AuxK, the dead-latent loss of Gao et al. (arXiv 2406.04093, appendix A.2): the top `aux_k` pre-activations
among dead latents (no firing for `dead_after` samples) must reconstruct the residual x - x_hat."""

from __future__ import annotations

import torch

from saesanity.sae.kernels import masked_row_topk


class DeadLatentTracker:
    def __init__(self, d_sae: int, dead_after: int):
        self.samples_since_fired_F = torch.zeros(d_sae, dtype=torch.long)
        self.dead_after = dead_after

    def update(self, fired_F: torch.Tensor, n_rows: int) -> None:
        """`fired_F`: which latents fired at least once in the batch of `n_rows` rows."""
        self.samples_since_fired_F += n_rows
        self.samples_since_fired_F[fired_F.to(self.samples_since_fired_F.device)] = 0

    @property
    def dead_F(self) -> torch.Tensor:
        return self.samples_since_fired_F >= self.dead_after


def dead_topk(pre_BF: torch.Tensor, dead_F: torch.Tensor, aux_k: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Values and indices [B, min(aux_k, n_dead)] of the largest pre-activations among dead latents; None
    when no latent is dead."""
    n_dead = int(dead_F.sum())
    if n_dead == 0:
        return None
    return masked_row_topk(pre_BF, dead_F.to(pre_BF.device), min(aux_k, n_dead))


def auxk_error(e_hat_BD: torch.Tensor, residual_BD: torch.Tensor, x_var: torch.Tensor) -> torch.Tensor:
    """Gao et al. weigh a residual-normalised AuxK error, ||e - e_hat||^2 / ||e||^2, against an
    input-normalised main error, ||x - x_hat||^2 / ||x||^2, with alpha = 1/32. Our main loss is the raw
    squared error, so the AuxK error is put in the same units (times the batch variance of x, `x_var`):
    alpha then means what it means in the paper, whatever the scale of the activations.
    e is the detached residual; e_hat is decoded from the top aux_k dead pre-activations."""
    e_BD = residual_BD.detach()
    denom = (e_BD - e_BD.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-12)
    return (e_hat_BD - e_BD).pow(2).sum(-1).mean() / denom * x_var


def auxk_loss(pre_BF: torch.Tensor, dead_F: torch.Tensor, residual_BD: torch.Tensor,
              W_dec_FD: torch.Tensor, aux_k: int, x_var: torch.Tensor) -> torch.Tensor:
    """The dense form: `pre_BF` carries the encoder's graph, e_hat = sum_k ReLU(pre_k) W_dec[idx_k]."""
    top = dead_topk(pre_BF, dead_F, aux_k)
    if top is None:
        return pre_BF.new_zeros(())
    vals_BK, idx_BK = top
    e_hat_BD = (vals_BK.relu().unsqueeze(-1) * W_dec_FD[idx_BK]).sum(1)
    return auxk_error(e_hat_BD, residual_BD, x_var)
