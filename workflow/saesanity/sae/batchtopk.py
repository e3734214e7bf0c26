"""BatchTopK SAE (Bussmann et al., arXiv 2412.06410): in training, the top k*B pre-activations over the whole
batch are kept (so L0 averages k but varies per row); at inference a single global threshold theta replaces
the batch, z = x * 1[x > theta]. During training theta is the running average of the smallest kept
activation (as in the paper; logged); after the last step it is set on a calibration sample so that exactly
k * N activations of N rows pass, i.e. BatchTopK over one large batch. The running average lags weights that
are still moving: with frozen random parts it left inference at L0 14 for k = 20, breaking the matched
sparsity the comparison needs. SAELens loads the inference form as a JumpReLU SAE with threshold theta for
every latent."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from saesanity.sae.auxk import DeadLatentTracker
from saesanity.sae.base import (SAE, TrainOutput, calibration_rows, cut_between, l0_record, mean_l0,
                                reconstruction_loss)
from saesanity.sae.kernels import batch_topk, indices_ge
from saesanity.sae.sparse import Latents, select_flat, sparse_decode
from saesanity.sae.topk import AuxKOptions, auxk_term


SAMPLE_STRIDE = 16


@torch.no_grad()
def batch_topk_indices(pre_BF: torch.Tensor, n_keep: int) -> torch.Tensor:
    """Flat indices of the n_keep largest ReLU(pre) entries: what ReLU(pre).flatten().topk(n_keep) selects,
    up to the order of exact ties. A top-k over all B * d_sae entries costs more than the encoder's matmul,
    so a threshold t is first read off a strided sample (set so that about 1.25 n_keep entries pass), and
    the top-k runs over the entries >= t only; if fewer than n_keep pass, or t <= 0, the full top-k runs."""
    flat = pre_BF.reshape(-1)
    n_sample = n_keep * 5 // (4 * SAMPLE_STRIDE)
    sample = flat[::SAMPLE_STRIDE]
    if 0 < n_sample < len(sample):
        t = sample.topk(n_sample, sorted=False).values.min()
        if t > 0:
            cand = indices_ge(flat, t)
            if len(cand) >= n_keep:
                return cand[flat[cand].topk(n_keep, sorted=False).indices]
    return flat.relu().topk(n_keep, sorted=False).indices


@torch.no_grad()
def batch_topk_entries(pre_BF: torch.Tensor, n_keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """batch_topk_indices' entries as flat indices, ascending, and pre's values there; from the compiled
    kernel where it applies (saesanity.sae.kernels.batch_topk: the same entries, tested)."""
    flat = pre_BF.reshape(-1)
    found = batch_topk(flat, n_keep, SAMPLE_STRIDE)
    if found is None:
        idx = batch_topk_indices(pre_BF, n_keep).sort().values
        found = idx, flat[idx]
    return found


@dataclass(frozen=True)
class BatchTopKOptions(AuxKOptions):
    threshold_momentum: float = 0.99
    """theta <- m * theta + (1 - m) * (smallest kept activation of the batch)."""


class BatchTopKSAE(SAE):
    arch = "batchtopk"
    saelens_architecture = "jumprelu"
    Options = BatchTopKOptions

    def __init__(self, cfg):
        super().__init__(cfg)
        self.k = int(round(cfg.target_l0))
        self.register_buffer("threshold", torch.zeros(()))
        self.threshold_set = False
        self.tracker = DeadLatentTracker(cfg.d_sae, self.opts.dead_after)

    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        pre_BF = self.pre_acts(x_BD)
        return pre_BF * (pre_BF > self.threshold)

    def batch_topk(self, pre_BF: torch.Tensor) -> torch.Tensor:
        """Dense latents: the k * B largest ReLU(pre) entries kept, the rest 0 (differentiable in pre); among
        entries tied exactly at the cutoff, the ones batch_topk_indices keeps, as in the training step."""
        flat = pre_BF.reshape(-1)
        idx, _ = batch_topk_entries(pre_BF, self.k * pre_BF.shape[0])
        return torch.zeros_like(flat).scatter(0, idx, flat.gather(0, idx).relu()).view_as(pre_BF)

    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        if self.sparse_path:
            xc_BD, pre_BF = self.split_preacts(x_BD)
            idx_N, pre_N = batch_topk_entries(pre_BF, self.k * pre_BF.shape[0])
            sel = select_flat(idx_N, pre_BF.shape, ascending=True)
            latents = Latents(self.gather_preacts(xc_BD, pre_BF, sel, pre_N).relu(), sel)
            x_hat_BD = sparse_decode(latents.z, sel, self.W_dec) + self.b_dec
        else:
            xc_BD, pre_BF = None, self.pre_acts(x_BD)
            latents = Latents(self.batch_topk(pre_BF))
            x_hat_BD = self.decode(latents.z)
        self._update_threshold(latents.z.detach())
        mse = reconstruction_loss(x_BD, x_hat_BD)
        aux = auxk_term(self, self.tracker, latents, pre_BF, xc_BD, x_BD, x_hat_BD)
        return TrainOutput(x_hat_BD, latents, mse + self.opts.aux_coef * aux,
                           {"mse": mse.item(), "auxk": aux.item(), "threshold": float(self.threshold),
                            "dead": float(self.tracker.dead_F.float().mean())})

    @torch.no_grad()
    def finish(self, x_ND: torch.Tensor) -> None:
        """theta halfway between the last kept and the first dropped of the k * N largest activations of N
        random calibration rows (saesanity.data.calibration); the running estimate's L0 and the sampling
        error of the final one go into training_summary."""
        pre_NF = self.pre_acts(calibration_rows(x_ND, self.cfg.d_sae))
        l0_before = mean_l0(pre_NF > self.threshold) if self.threshold_set else None
        self.threshold.copy_(cut_between(pre_NF.relu(), self.k * len(pre_NF)))
        self.threshold_set = True
        self.calibration_record = l0_record(pre_NF > self.threshold, l0_before, self.threshold)

    @torch.no_grad()
    def _update_threshold(self, z: torch.Tensor) -> None:
        """`z`: the batch's latents, dense or only the selected values."""
        kept = z[z > 0]
        if kept.numel() == 0:
            return
        smallest = kept.min()
        if not self.threshold_set:
            self.threshold.copy_(smallest)
            self.threshold_set = True
        else:
            m = self.opts.threshold_momentum
            self.threshold.mul_(m).add_((1 - m) * smallest)

    def saelens_tensors(self) -> dict[str, torch.Tensor]:
        return {**super().saelens_tensors(), "threshold": self.threshold.expand(self.cfg.d_sae).clone()}

    def load_saelens_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        super().load_saelens_tensors(tensors)
        theta_F = tensors["threshold"]
        if not torch.all(theta_F == theta_F[0]):
            raise ValueError("a BatchTopK checkpoint has one global threshold; this one varies per latent")
        self.threshold.copy_(theta_F[0])
        self.threshold_set = True
