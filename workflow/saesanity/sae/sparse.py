"""Sparse training path: a step touches only the latents it selects.

With L0 active latents out of d_sae per row, a dense step does six [B, d_in] x [d_in, d_sae] products
(benchmarks/train_throughput.py lists them), but only the encoder's forward needs every pre-activation: the
selection (top-k, ReLU, JumpReLU's threshold) reads all of them. Every other product only ever involves the
selected entries, so it is done on them: the decoder is an `embedding_bag` over the selected rows of W_dec
(forward and both gradients), and the encoder's backward goes through `gather_preacts`, whose gradient
reaches W_enc, b_enc and the input only at the selected entries. Gao et al. (arXiv 2406.04093) train TopK
SAEs with sparse kernels for the same reason; here the sparse products are stock PyTorch operators, so the
path runs on CPU and CUDA alike.

The selected entries are a row-major list (rows, cols) with `offsets` (each row's first entry), the layout
`embedding_bag` takes. Results equal the dense path's up to float summation order; on CPU, every operator
used sums in a fixed order, so a step is bit-deterministic for a given thread count.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from saesanity.sae.kernels import available_for, entries_gt, rows_sum_weight_grad

DENSE_ABOVE = 1 / 16
"""Selected fraction of the [B, d_sae] entries above which ReLU and JumpReLU take the dense path. The sparse
products run at about a twelfth of the dense matmul rate per flop (embedding_bag against mm, one core,
d_in 512), so they stop paying near that density; 1/16 keeps a margin. TopK and BatchTopK select k / d_sae."""


@dataclass(frozen=True, eq=False)
class Selection:
    """Row-major list of the selected [B, d_sae] entries."""

    rows_N: torch.Tensor
    cols_N: torch.Tensor
    offsets_B: torch.Tensor
    shape: tuple[int, int]

    @property
    def density(self) -> float:
        return len(self.cols_N) / max(1, self.shape[0] * self.shape[1])

    @functools.cached_property
    def col_order_N(self) -> torch.Tensor:
        """cols_N.sort().indices, the order in which torch's embedding_bag backward visits the entries; both
        weight gradients of a step (decoder and encoder) share it."""
        return self.cols_N.sort().indices


def select_above(pre_BF: torch.Tensor, threshold: float | torch.Tensor) -> Selection:
    """The entries of pre_BF above `threshold` (a number, or one per latent)."""
    rows_N, cols_N = entries_gt(pre_BF, threshold)  # row-major order, as embedding_bag's bags need
    return _with_offsets(rows_N, cols_N, pre_BF.shape)


def select_topk(idx_BK: torch.Tensor, d_sae: int) -> Selection:
    """Rows of equal length k (TopK, AuxK)."""
    B, K = idx_BK.shape
    rows_N = torch.arange(B, device=idx_BK.device).repeat_interleave(K)
    offsets_B = torch.arange(0, B * K, K, device=idx_BK.device)
    return Selection(rows_N, idx_BK.reshape(-1), offsets_B, (B, d_sae))


def select_flat(flat_idx_N: torch.Tensor, shape: tuple[int, int], ascending: bool = False) -> Selection:
    """Entries given as indices into the flattened [B, d_sae] tensor (BatchTopK), in any order unless
    `ascending` says they are sorted already."""
    if not ascending:
        flat_idx_N = flat_idx_N.sort().values
    return _with_offsets(flat_idx_N // shape[1], flat_idx_N % shape[1], shape)


def _with_offsets(rows_N: torch.Tensor, cols_N: torch.Tensor, shape) -> Selection:
    counts_B = torch.bincount(rows_N, minlength=shape[0])
    return Selection(rows_N, cols_N, counts_B.cumsum(0) - counts_B, tuple(shape))


class _GatherPreacts(torch.autograd.Function):
    """pre_N = ((x - b_dec) @ W_enc + b_enc)[rows, cols], given those values computed without autograd; the
    backward is two sparse products over the N entries instead of two dense [B, d_in, d_sae] ones."""

    @staticmethod
    def forward(ctx, xc_BD, W_enc_DF, b_enc_F, pre_N, sel: Selection):
        ctx.save_for_backward(xc_BD, W_enc_DF)
        ctx.sel = sel
        return pre_N.clone()

    @staticmethod
    def backward(ctx, grad_N):
        xc_BD, W_enc_DF = ctx.saved_tensors
        sel: Selection = ctx.sel
        need_x, need_W, need_b = ctx.needs_input_grad[:3]
        grad_x = grad_W = grad_b = None
        if need_x or need_W:
            # Row f of W_enc^T is latent f's encoder direction; embedding_bag sums g_n * W_enc[:, col_n] per
            # row (the input's gradient), and its weight gradient is the scatter of g_n * xc[row_n] into row
            # col_n (W_enc's gradient, transposed).
            # No copy when W_enc is a view of latent-major storage (SAE.W_enc).
            W_FD = W_enc_DF.detach().t().contiguous()
            grad_W_FD = rows_sum_weight_grad(xc_BD, sel.rows_N, sel.cols_N, grad_N, sel.col_order_N,
                                             len(W_FD)) if need_W else None
            if need_W and grad_W_FD is None:  # without the kernels: embedding_bag's own weight gradient
                with torch.enable_grad():
                    W_FD.requires_grad_(True)
                    grad_x = F.embedding_bag(sel.cols_N, W_FD, sel.offsets_B, mode="sum",
                                             per_sample_weights=grad_N.detach())
                    (grad_W_FD,) = torch.autograd.grad(grad_x, W_FD, xc_BD)
                grad_x = grad_x.detach() if need_x else None
            elif need_x:
                grad_x = F.embedding_bag(sel.cols_N, W_FD, sel.offsets_B, mode="sum",
                                         per_sample_weights=grad_N.detach())
            grad_W = grad_W_FD.t() if need_W else None
        if need_b:
            grad_b = grad_N.new_zeros(sel.shape[1]).index_add_(0, sel.cols_N, grad_N)
        return grad_x, grad_W, grad_b, None, None


def gather_preacts(xc_BD: torch.Tensor, W_enc_DF: torch.Tensor, b_enc_F: torch.Tensor,
                   pre_BF: torch.Tensor, sel: Selection, pre_N: torch.Tensor | None = None) -> torch.Tensor:
    """The selected pre-activations, differentiable with respect to the input, W_enc and b_enc;
    `pre_BF` must hold xc_BD @ W_enc_DF + b_enc_F (computed under no_grad). `pre_N`: the selected values
    where the selection already read them (top-k returns them), saving the gather."""
    if pre_N is None:
        pre_N = pre_BF[sel.rows_N, sel.cols_N]
    return _GatherPreacts.apply(xc_BD, W_enc_DF, b_enc_F, pre_N, sel)


class _RowsSum(torch.autograd.Function):
    """F.embedding_bag(cols, W, offsets, mode="sum", per_sample_weights=w) whose weight gradient comes from
    the compiled scatter (saesanity.sae.kernels.rows_sum_weight_grad), with the bits of torch's own."""

    @staticmethod
    def forward(ctx, w_N, W_FD, sel: Selection):
        out_BD, offset2bag_N, bag_size_B, max_B = torch.ops.aten._embedding_bag(
            W_FD, sel.cols_N, sel.offsets_B, False, 0, False, w_N, False, -1)
        ctx.save_for_backward(w_N, W_FD, offset2bag_N, bag_size_B, max_B)
        ctx.sel = sel
        return out_BD

    @staticmethod
    def backward(ctx, grad_BD):
        w_N, W_FD, offset2bag_N, bag_size_B, max_B = ctx.saved_tensors
        sel: Selection = ctx.sel
        grad_w = grad_W = None
        if ctx.needs_input_grad[0]:
            grad_w = torch.ops.aten._embedding_bag_per_sample_weights_backward(grad_BD, W_FD, sel.cols_N, sel.offsets_B,
                                                                               offset2bag_N, 0, -1)
        if ctx.needs_input_grad[1]:
            grad_W = rows_sum_weight_grad(grad_BD, sel.rows_N, sel.cols_N, w_N, sel.col_order_N, len(W_FD))
            if grad_W is None:  # torch's own weight gradient
                grad_W = torch.ops.aten._embedding_bag_dense_backward(grad_BD, sel.cols_N, offset2bag_N, bag_size_B,
                                                                      max_B, len(W_FD), False, 0, w_N, -1)
        return grad_w, grad_W, None


def sparse_decode(z_N: torch.Tensor, sel: Selection, W_dec_FD: torch.Tensor) -> torch.Tensor:
    """sum_n z_n W_dec[col_n] per row: z @ W_dec with z zero outside the selection (no bias)."""
    if available_for(z_N, W_dec_FD):
        return _RowsSum.apply(z_N, W_dec_FD, sel)
    return F.embedding_bag(sel.cols_N, W_dec_FD, sel.offsets_B, mode="sum", per_sample_weights=z_N)


def to_dense(z_N: torch.Tensor, sel: Selection) -> torch.Tensor:
    z_BF = z_N.new_zeros(sel.shape)
    z_BF[sel.rows_N, sel.cols_N] = z_N
    return z_BF


class Latents:
    """A training step's latents, dense [B, d_sae] or sparse (values on a Selection); densified only
    when read as z_BF."""

    def __init__(self, z: torch.Tensor, sel: Selection | None = None):
        self.z, self.sel = z, sel

    @property
    def z_BF(self) -> torch.Tensor:
        return self.z if self.sel is None else to_dense(self.z, self.sel)

    def l0(self) -> float:
        """Mean number of positive latents per row."""
        return float((self.z > 0).sum()) / (self.z.shape[0] if self.sel is None else self.sel.shape[0])

    def fired_F(self, d_sae: int) -> torch.Tensor:
        if self.sel is None:
            return (self.z > 0).any(0)
        fired_F = torch.zeros(d_sae, dtype=torch.bool, device=self.z.device)
        fired_F[self.sel.cols_N[self.z > 0]] = True
        return fired_F
