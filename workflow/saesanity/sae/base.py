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
        self.calibration_record: dict[str, Any] = {}
        """What `finish` did to meet the target L0 on the calibration rows (l0_record), for cfg.json."""
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

    def lr_scales(self) -> dict[nn.Parameter, float]:
        """Parameters whose learning rate is train.lr times a factor of the architecture's own (JumpReLU's
        thresholds); the rest train at train.lr."""
        return {}

    @torch.no_grad()
    def fold_input_scale(self, scale: float) -> None:
        """An SAE trained on `scale * x` becomes one that takes x: every latent is divided by `scale`, so the
        biases and thresholds are, and the weights stay (decoder rows keep their norms). Exact for every
        architecture here, since ReLU, JumpReLU and the top-k selection commute with a positive factor:
        z(x) = z'(scale * x) / scale and x_hat(x) = x_hat'(scale * x) / scale."""
        for name in ("b_enc", "b_dec", "threshold"):  # threshold: BatchTopK's and JumpReLU's, in input units
            if hasattr(self, name):
                getattr(self, name).div_(scale)

    def training_summary(self) -> dict[str, Any]:
        """Architecture-specific facts about how training ended (for cfg.json's `saesanity_training`): the
        final L0 calibration's record, null where there was none."""
        return {**dict.fromkeys(L0_RECORD), **self.calibration_record}

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


CALIBRATION_ENTRIES = 2 ** 25
"""Bound on the [N, d_sae] pre-activations read at once by a final calibration (at least 256 rows)."""


def calibration_rows(x_ND: torch.Tensor, d_sae: int) -> torch.Tensor:
    return x_ND[:max(256, CALIBRATION_ENTRIES // d_sae)]


def cut_between(values: torch.Tensor, n_keep: int) -> torch.Tensor:
    """The point halfway between the n_keep-th and the (n_keep + 1)-th largest of `values` (any shape): a
    cut that keeps exactly n_keep of them (barring ties)."""
    flat = values.reshape(-1)
    n_keep = max(1, min(n_keep, flat.numel() - 1))
    top = flat.topk(n_keep + 1).values  # sorted: top[n_keep - 1] is the last kept, top[n_keep] the first dropped
    return (top[n_keep - 1] + top[n_keep]) / 2


L0_RECORD = ("calibration_rows", "l0_before_calibration", "calibration_cut", "calibration_l0", "calibration_l0_se")
"""The keys of l0_record, null for an architecture without a final calibration (TopK)."""


def mean_l0(active_NF: torch.Tensor) -> float:
    """Mean number of active latents per row of a boolean [N, d_sae] mask."""
    return float(active_NF.sum(1).double().mean())


def l0_record(active_NF: torch.Tensor, l0_before: float, cut: float) -> dict[str, float]:
    """What a final L0 calibration reports: its rows, the L0 before and after, the standard error of that L0
    over the rows (std / sqrt(N), ddof 1: the calibration's own sampling error) and the cut it applied."""
    l0_N = active_NF.sum(1).double()
    return {"calibration_rows": len(l0_N), "l0_before_calibration": l0_before, "calibration_cut": float(cut),
            "calibration_l0": float(l0_N.mean()),
            "calibration_l0_se": float(l0_N.std() / len(l0_N) ** 0.5) if len(l0_N) > 1 else None}


def reconstruction_loss(x_BD: torch.Tensor, x_hat_BD: torch.Tensor) -> torch.Tensor:
    """Squared error summed over dimensions, averaged over the batch."""
    return (x_hat_BD - x_BD).pow(2).sum(-1).mean()
