"""What every architecture shares: parameters in the SAELens layout, encode/decode, the training output.

Parameter names and shapes follow SAELens/SAEBench so that checkpoints load there unchanged:
W_enc [d_in, d_sae], b_enc [d_sae], W_dec [d_sae, d_in], b_dec [d_in]; decoder rows are unit norm.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, NamedTuple

import torch
from torch import nn

from saesanity.config import SAEConfig, from_dict
from saesanity.sae.sparse import Latents, Selection, gather_preacts


class TrainOutput(NamedTuple):
    x_hat_BD: torch.Tensor
    latents: Latents
    """Dense or sparse (saesanity.sae.sparse); `z_BF` densifies."""
    loss: torch.Tensor
    """The scalar to minimise."""
    parts: dict[str, float]
    """Loss parts and controller state, for train_log.csv."""

    @property
    def z_BF(self) -> torch.Tensor:
        return self.latents.z_BF


class SAE(nn.Module, ABC):
    arch: ClassVar[str]
    """Our name: relu, topk, batchtopk, jumprelu."""
    saelens_architecture: ClassVar[str]
    """SAELens's name for the inference form: standard, topk, jumprelu."""
    Options: ClassVar[type]
    """Dataclass of this architecture's own options (SAEConfig.options)."""

    def __init__(self, cfg: SAEConfig):
        super().__init__()
        self.cfg = cfg
        self.opts = from_dict(self.Options, cfg.options, f"arch.{cfg.arch}")
        d_in, d_sae = cfg.d_in, cfg.d_sae
        self.W_enc_FD = nn.Parameter(torch.zeros(d_sae, d_in))
        """The encoder stored latent-major; `W_enc` is its [d_in, d_sae] view (see there)."""
        self.b_enc = nn.Parameter(torch.zeros(d_sae))
        self.W_dec = nn.Parameter(torch.zeros(d_sae, d_in))
        self.b_dec = nn.Parameter(torch.zeros(d_in))
        self.sparse_path = True
        """Train through saesanity.sae.sparse; False selects the dense reference path (the tests compare them)."""
        self._pre_buffer: torch.Tensor | None = None
        """split_preacts' output, reused from step to step: a fresh [B, d_sae] tensor each step costs a
        tenth of the encoder's matmul in page faults (large allocations come straight from the OS)."""

    @property
    def W_enc(self) -> torch.Tensor:
        """[d_in, d_sae] (SAELens's layout), a transposed view of the parameter W_enc_FD. The sparse backward
        reads and writes the encoder one latent at a time, so latent-major storage spares it a transposed copy
        of the weight and of its gradient every step (a tenth of the encoder's matmul at 512 x 16,384); the
        encoder's matmul runs as fast, with the same bits, on either layout. The parameter itself is
        contiguous because the fused AdamW copies strided parameters in and out every step."""
        return self.W_enc_FD.t()

    def pre_acts(self, x_BD: torch.Tensor) -> torch.Tensor:
        # apply_b_dec_to_input = True, as in SAELens's default.
        return (x_BD - self.b_dec) @ self.W_enc + self.b_enc

    def split_preacts(self, x_BD: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """For the sparse path: x - b_dec (with autograd) and the pre-activations (without: the sparse path
        differentiates only the entries it selects, through `gather_preacts`). The pre-activations live in
        a buffer that the next call overwrites."""
        xc_BD = x_BD - self.b_dec
        shape = (len(x_BD), self.cfg.d_sae)
        buf = self._pre_buffer
        if buf is None or buf.shape != shape or buf.device != x_BD.device or buf.dtype != x_BD.dtype:
            buf = self._pre_buffer = x_BD.new_empty(shape)
        with torch.no_grad():
            return xc_BD, torch.addmm(self.b_enc, xc_BD, self.W_enc, out=buf)

    def gather_preacts(self, xc_BD: torch.Tensor, pre_BF: torch.Tensor, sel: Selection,
                       pre_N: torch.Tensor | None = None) -> torch.Tensor:
        return gather_preacts(xc_BD, self.W_enc, self.b_enc, pre_BF, sel, pre_N)

    @abstractmethod
    def encode(self, x_BD: torch.Tensor) -> torch.Tensor:
        """Inference-time latents z [B, d_sae]."""

    def decode(self, z_BF: torch.Tensor) -> torch.Tensor:
        return z_BF @ self.W_dec + self.b_dec

    def forward(self, x_BD: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x_BD))

    @abstractmethod
    def training_forward(self, x_BD: torch.Tensor) -> TrainOutput:
        """Training-time latents, reconstruction and loss; may update training state (controllers, counters)."""

    def init_extra(self) -> None:
        """Initialises architecture-specific parameters after the shared init (thresholds)."""

    def calibrate(self, x_ND: torch.Tensor) -> None:
        """Sets biases or thresholds so that training starts near the target L0 (architectures without k)."""

    def finish(self, x_ND: torch.Tensor) -> None:
        """Fixes inference-time state after the last step, on a sample of training rows (BatchTopK's threshold)."""

    def after_step(self) -> None:
        """Keeps parameters in their domain after an optimiser step (e.g. thresholds >= 0)."""

    def saelens_tensors(self) -> dict[str, torch.Tensor]:
        """The state dict as SAELens expects it for `saelens_architecture`."""
        return {k: getattr(self, k).detach() for k in ("W_enc", "b_enc", "W_dec", "b_dec")}

    def load_saelens_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        with torch.no_grad():
            for k in ("W_enc", "b_enc", "W_dec", "b_dec"):
                getattr(self, k).copy_(tensors[k])

    def saelens_cfg_fields(self) -> dict[str, Any]:
        """Architecture-specific fields of SAELens's cfg.json (e.g. k)."""
        return {}


def firing_quantile(pre_NF: torch.Tensor, target_l0: float) -> torch.Tensor:
    """Per latent, the pre-activation exceeded by a fraction target_l0 / d_sae of the rows: a threshold at
    which every latent fires equally often and L0 equals target_l0 on this sample."""
    n, d_sae = pre_NF.shape
    k = min(n, max(1, n - int(round(n * target_l0 / d_sae))))
    return pre_NF.kthvalue(k, dim=0).values


def reconstruction_loss(x_BD: torch.Tensor, x_hat_BD: torch.Tensor) -> torch.Tensor:
    """Squared error summed over dimensions, averaged over the batch."""
    return (x_hat_BD - x_BD).pow(2).sum(-1).mean()
