"""AuxK, the dead-latent loss of Gao et al. (arXiv 2406.04093, appendix A.2): the top `aux_k` pre-activations
among dead latents (no firing for `dead_after` samples) must reconstruct the residual x - x_hat."""

from __future__ import annotations

import torch


class DeadLatentTracker:
    def __init__(self, d_sae: int, dead_after: int):
        self.samples_since_fired_F = torch.zeros(d_sae, dtype=torch.long)
        self.dead_after = dead_after

    def update(self, z_BF: torch.Tensor) -> None:
        fired_F = (z_BF > 0).any(0)
        self.samples_since_fired_F += z_BF.shape[0]
        self.samples_since_fired_F[fired_F] = 0

    @property
    def dead_F(self) -> torch.Tensor:
        return self.samples_since_fired_F >= self.dead_after


def auxk_loss(pre_BF: torch.Tensor, dead_F: torch.Tensor, residual_BD: torch.Tensor,
              W_dec_FD: torch.Tensor, aux_k: int, x_var: torch.Tensor) -> torch.Tensor:
    """Gao et al. weigh a residual-normalised AuxK error, ||e - e_hat||^2 / ||e||^2, against an
    input-normalised main error, ||x - x_hat||^2 / ||x||^2, with alpha = 1/32. Our main loss is the raw
    squared error, so the AuxK error is put in the same units (times the batch variance of x, `x_var`):
    alpha then means what it means in the paper, whatever the scale of the activations.
    e is the detached residual; e_hat is decoded from the top aux_k dead pre-activations."""
    n_dead = int(dead_F.sum())
    if n_dead == 0:
        return pre_BF.new_zeros(())
    k = min(aux_k, n_dead)
    dead_pre_BF = torch.where(dead_F, pre_BF, torch.full_like(pre_BF, -torch.inf))
    vals_BK, idx_BK = dead_pre_BF.topk(k, dim=-1)
    e_hat_BD = (vals_BK.relu().unsqueeze(-1) * W_dec_FD[idx_BK]).sum(1)
    e_BD = residual_BD.detach()
    denom = (e_BD - e_BD.mean(0)).pow(2).sum(-1).mean().clamp_min(1e-12)
    return (e_hat_BD - e_BD).pow(2).sum(-1).mean() / denom * x_var
