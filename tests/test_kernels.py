"""The compiled selections (saesanity.sae.kernels) return what their torch expressions return, bit for bit,
on the inputs where the two could part: exact ties among the k + 1 largest, NaN, infinities, rows of every
length; and an SAE trained with them has the same weights, byte for byte, as one trained without."""

from __future__ import annotations

import os
import shutil

import pytest
import torch
from conftest import make_job

from saesanity.data.calibration import activation_stats
from saesanity.sae import kernels
from saesanity.sae.batchtopk import SAMPLE_STRIDE, batch_topk_entries, batch_topk_indices
from saesanity.sae.registry import build_sae
from saesanity.sae.sparse import select_topk, sparse_decode
from saesanity.sae.variants import initialise
from saesanity.train import make_optimizer, train_step

EXPECTED = shutil.which("c++") is not None and os.environ.get(kernels.OFF_SWITCH) != "0"
"""Where a compiler is found (and the kernels are not switched off) they must build and run; elsewhere every
function is its torch expression, and the comparisons below still hold."""
needs_compiler = pytest.mark.skipif(not EXPECTED, reason="no C++ compiler, or SAESANITY_KERNELS=0")


def _bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal as stored (NaN payloads and signed zeros included), which torch.equal is not for NaN."""
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(torch.int32), b.view(torch.int32))


def _inputs(B: int, F: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, 16, generator=g) @ torch.randn(16, F, generator=g) + 0.3 * torch.randn(F, generator=g)
    quantised = (x * 4).round() / 4  # many exact ties, also among the k + 1 largest
    special = x.clone()
    special[torch.rand(B, F, generator=g) < 2e-3] = float("nan")
    special[torch.rand(B, F, generator=g) < 2e-3] = float("inf")
    special[torch.rand(B, F, generator=g) < 2e-3] = -float("inf")
    return {"plain": x, "ties": quantised, "nan_inf": special, "constant": torch.zeros(B, F)}


@needs_compiler
def test_kernels_build_here():
    assert kernels.library() is not None


@needs_compiler
def test_kernel_ranks_most_rows_itself():
    """torch.topk must be the exception (ties, NaN), not the rule, or the kernel buys nothing."""
    x = _inputs(256, 3200, 0)["plain"]
    _, _, tie_rows = kernels._topk_kernel(kernels.library(), x, 20)
    assert len(tie_rows) <= 2


@pytest.mark.parametrize("B,F,k", [(64, 3200, 20), (32, 4608, 64), (33, 1000, 7), (8, 100, 50), (5, 17, 1)])
@pytest.mark.parametrize("sorted_", [True, False])
def test_row_topk_is_torch_topk(B, F, k, sorted_):
    for name, x in _inputs(B, F, F + k).items():
        v, i = kernels.row_topk(x, k, sorted=sorted_)
        ref = x.topk(k, dim=1, sorted=sorted_)
        assert _bits_equal(v, ref.values) and torch.equal(i, ref.indices), name


@pytest.mark.parametrize("n_kept", [20, 21, 40, 41, 300, 3200])
def test_masked_row_topk_is_torch_topk_of_where(n_kept):
    k = 20
    g = torch.Generator().manual_seed(n_kept)
    keep_F = torch.zeros(3200, dtype=torch.bool)
    keep_F[torch.randperm(3200, generator=g)[:n_kept]] = True
    for name, x in _inputs(48, 3200, n_kept).items():
        v, i = kernels.masked_row_topk(x, keep_F, k)
        ref = torch.where(keep_F, x, torch.full_like(x, -torch.inf)).topk(k, dim=1)
        assert _bits_equal(v, ref.values) and torch.equal(i, ref.indices), name


def test_indices_ge_is_nonzero():
    for name, x in _inputs(16, 3203, 1).items():
        flat = x.reshape(-1)
        for t in (0.0, 0.25, float(flat[7]), torch.tensor(1.5), float("inf"), -float("inf")):
            assert torch.equal(kernels.indices_ge(flat, t), (flat >= t).nonzero().squeeze(1)), (name, t)


def test_entries_gt_is_nonzero():
    for name, x in _inputs(16, 3203, 2).items():
        theta_F = torch.rand(3203, generator=torch.Generator().manual_seed(3)) - 0.2
        theta_F[::7] = x[0, ::7]  # equal to an entry: not above it
        for t in (0, 0.25, theta_F, theta_F - 0.001):
            got, ref = kernels.entries_gt(x, t), (x > t).nonzero(as_tuple=True)
            assert all(torch.equal(a, b) for a, b in zip(got, ref)), name
    dense = torch.ones(4, 64)  # more than the first guess of room: the second call sizes it
    assert kernels.entries_gt(dense, 0.0)[1].tolist() == list(range(64)) * 4


def test_kernels_stay_out_of_graphs_and_other_dtypes():
    x = torch.randn(4, 256, requires_grad=True)
    v, _ = kernels.row_topk(x, 20)
    assert v.grad_fn is not None  # torch.topk ran: the values stay differentiable
    x64 = torch.randn(4, 256, dtype=torch.float64)
    assert torch.equal(kernels.row_topk(x64, 20)[0], x64.topk(20, dim=1).values)


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu", "relu"])
def test_training_with_and_without_kernels_gives_the_same_bytes(synthetic_store, monkeypatch, arch):
    """Twelve steps with AuxK active (dead_after 0): every selection of the step runs in both forms."""
    opts = {"dead_after": 0, "aux_k": 8} if arch in ("topk", "batchtopk") else {}
    job = make_job(arch, "trained", d_sae=256, options=opts)
    mean_D, cov_DD, _, sample_ND, _ = activation_stats(synthetic_store, 1024, 0, normalize=False)

    def train() -> dict[str, torch.Tensor]:
        torch.manual_seed(0)
        sae = build_sae(job.sae)
        W0_FD = initialise(sae, mean_D, cov_DD, sample_ND)
        opt = make_optimizer(sae, job.train)
        for step in range(12):
            train_step(sae, opt, sample_ND[64 * step:64 * (step + 1)], W0_FD, 1e-3, step)
        return {name: t.detach().clone() for name, t in sae.state_dict().items()}

    with_kernels = train()
    monkeypatch.setattr(kernels, "library", lambda: None)
    without = train()
    assert with_kernels.keys() == without.keys()
    for name, t in with_kernels.items():
        assert torch.equal(t, without[name]), name


@pytest.mark.parametrize("B,D,F,k", [(1024, 100, 3200, 20), (256, 576, 4608, 64), (64, 16, 256, 4)])
def test_rows_sum_weight_grad_is_embedding_bags(B, D, F, k):
    """The decoder's and the encoder's weight gradient, against torch's embedding_bag backward, at sizes where
    many latents repeat across rows (torch's unstable sort decides their order, and the kernel follows it)."""
    g = torch.Generator().manual_seed(D)
    v_BK, idx_BK = (torch.randn(B, F, generator=g) + torch.randn(F, generator=g)).topk(k, dim=1)
    sel = select_topk(idx_BK, F)
    w_N = v_BK.reshape(-1).relu()  # zeros included, as ReLU(TopK) gives
    W_FD = torch.randn(F, D, generator=g, requires_grad=True)
    grad_BD = torch.randn(B, D, generator=g)
    out = torch.nn.functional.embedding_bag(sel.cols_N, W_FD, sel.offsets_B, mode="sum", per_sample_weights=w_N)
    (ref_FD,) = torch.autograd.grad(out, W_FD, grad_BD)
    got_FD = kernels.rows_sum_weight_grad(grad_BD, sel.rows_N, sel.cols_N, w_N, sel.col_order_N, F)
    assert (got_FD is not None) == EXPECTED
    assert got_FD is None or _bits_equal(got_FD, ref_FD)


def test_sparse_decode_is_embedding_bag():
    """Output and both gradients of the decoder with the compiled weight gradient, against embedding_bag's."""
    g = torch.Generator().manual_seed(5)
    v_BK, idx_BK = torch.randn(512, 3200, generator=g).topk(20, dim=1)
    sel = select_topk(idx_BK, 3200)
    W_FD = torch.randn(3200, 100, generator=g)
    grad_BD = torch.randn(512, 100, generator=g)
    results = []
    for decode in (sparse_decode, lambda z, s, W: torch.nn.functional.embedding_bag(
            s.cols_N, W, s.offsets_B, mode="sum", per_sample_weights=z)):
        z_N, W = v_BK.reshape(-1).clone().requires_grad_(True), W_FD.clone().requires_grad_(True)
        out = decode(z_N, sel, W)
        out.backward(grad_BD)
        results.append((out.detach(), z_N.grad, W.grad))
    assert all(_bits_equal(a, b) for a, b in zip(*results))


@pytest.mark.parametrize("B,F,k", [(256, 3200, 20), (64, 4608, 64), (16, 300, 8)])
def test_batch_topk_entries_are_batch_topk_indices(B, F, k):
    """The kernel's entries and values against the torch expression's, sorted; where the kernel declines (a
    tie at the cut, NaN, a non-positive bound) the expression itself runs, so the two always agree."""
    for name, x in _inputs(B, F, k).items():
        for shift in (0.0, -1000.0):  # -1000: every entry negative, the bound <= 0
            pre = x + shift
            idx, vals = batch_topk_entries(pre, k * B)
            ref = batch_topk_indices(pre, k * B).sort().values
            assert torch.equal(idx, ref) and _bits_equal(vals, pre.reshape(-1)[ref]), (name, shift)
            used = kernels.batch_topk(pre.reshape(-1), k * B, SAMPLE_STRIDE) is not None
            assert used == (EXPECTED and name == "plain" and shift == 0.0), (name, shift)


def test_row_topk_of_other_shapes_is_torch_topk():
    """TopK's encode sees [batch, positions, d_sae] pre-activations in the language-model evaluations."""
    x = torch.randn(3, 5, 3200)
    v, i = kernels.row_topk(x, 20, sorted=False)
    ref = x.topk(20, dim=-1, sorted=False)
    assert torch.equal(v, ref.values) and torch.equal(i, ref.indices)
