"""The sparse training path (saesanity.sae.sparse) against the dense reference: same loss, reconstruction,
latents and gradients for every architecture and variant kind, with AuxK active; same weights after a few
optimiser steps, BatchTopK's threshold included; bit-deterministic on CPU."""

from __future__ import annotations

import copy

import pytest
import torch
from conftest import D, make_job

from saesanity.sae.registry import build_sae
from saesanity.sae.sparse import select_above, select_flat, select_topk
from saesanity.sae.variants import initialise
from saesanity.data.calibration import activation_stats
from saesanity.train import make_optimizer, train_step

D_SAE = 256
KINDS = ["trained", "frozen_decoder-iso", "frozen_encoder-cov", "soft_frozen_decoder-iso"]


def _pair(arch, variant, store, dead_after=1_000_000, **options):
    """A sparse-path SAE and its dense-path copy, initialised as train_sae does (L0 near 4 of 256)."""
    opts = {"dead_after": dead_after, "aux_k": 8, **options} if arch in ("topk", "batchtopk") else options
    job = make_job(arch, variant, d_sae=D_SAE, options=opts)
    mean_D, cov_DD, _, sample_ND, _ = activation_stats(store, 1024, 0, normalize=False)
    sparse = build_sae(job.sae)
    W0_FD = initialise(sparse, mean_D, cov_DD, sample_ND)
    dense = copy.deepcopy(sparse)
    dense.sparse_path = False
    return sparse, dense, W0_FD, job, sample_ND


def _forward_backward(sae, x_BD):
    out = sae.training_forward(x_BD)
    out.loss.backward()
    return out


@pytest.mark.parametrize("variant", KINDS)
@pytest.mark.parametrize("arch", ["topk", "batchtopk", "relu", "jumprelu"])
def test_sparse_step_matches_dense(synthetic_store, arch, variant):
    # dead_after = 0: every latent that did not fire in the batch is dead, so AuxK contributes.
    sparse, dense, _, _, x_ND = _pair(arch, variant, synthetic_store, dead_after=0)
    x_BD = x_ND[:128]
    out_s, out_d = _forward_backward(sparse, x_BD), _forward_backward(dense, x_BD)
    assert out_s.latents.sel is not None and out_d.latents.sel is None
    if arch in ("topk", "batchtopk"):
        assert out_d.parts["auxk"] > 0
    torch.testing.assert_close(out_s.loss, out_d.loss)
    torch.testing.assert_close(out_s.x_hat_BD, out_d.x_hat_BD)
    torch.testing.assert_close(out_s.z_BF, out_d.z_BF)
    assert out_s.latents.l0() == out_d.latents.l0()
    assert out_s.parts.keys() == out_d.parts.keys()
    for (name, p_s), p_d in zip(sparse.named_parameters(), dense.parameters()):
        assert (p_s.grad is None) == (p_d.grad is None), name
        if p_d.grad is not None:
            torch.testing.assert_close(p_s.grad, p_d.grad, rtol=1e-4, atol=1e-5, msg=name)
    if arch == "jumprelu":
        assert sparse.threshold.grad.abs().sum() > 0  # the window entries carry theta's gradient


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "relu", "jumprelu"])
def test_sparse_training_matches_dense(synthetic_store, arch):
    """Ten AdamW steps with the soft-frozen cone projection; BatchTopK's running threshold and its final
    calibrated one follow the dense path's."""
    sparse, dense, W0_FD, job, x_ND = _pair(arch, "soft_frozen_decoder-cov", synthetic_store, dead_after=256)
    opts = [make_optimizer(s, job.train) for s in (sparse, dense)]
    for step in range(10):
        x_BD = x_ND[step * 64:(step + 1) * 64]
        for sae, opt in zip((sparse, dense), opts):
            train_step(sae, opt, x_BD, W0_FD, 1e-3, step)
    sparse.finish(x_ND), dense.finish(x_ND)
    # Adam divides each gradient by its own running scale, so a gradient near zero, whose last digits
    # differ with the summation order, can still move its weight by up to lr per step: hence atol lr / 10.
    for (name, t_s), t_d in zip(sparse.state_dict().items(), dense.state_dict().values()):
        torch.testing.assert_close(t_s, t_d, rtol=1e-4, atol=1e-4, msg=name)


def test_sparse_path_is_bit_deterministic(synthetic_store):
    runs = []
    for _ in range(2):
        sae, _, W0_FD, job, x_ND = _pair("jumprelu", "trained", synthetic_store)
        opt = make_optimizer(sae, job.train)
        for step in range(3):
            train_step(sae, opt, x_ND[step * 64:(step + 1) * 64], W0_FD, 1e-3, step)
        runs.append(sae.state_dict())
    for name in runs[0]:
        assert torch.equal(runs[0][name], runs[1][name]), name


def test_dense_selections_fall_back_to_the_dense_path(synthetic_store):
    sparse, _, _, _, x_ND = _pair("relu", "trained", synthetic_store)
    with torch.no_grad():
        sparse.b_enc += 100.0  # every latent active
    assert sparse.training_forward(x_ND[:64]).latents.sel is None


def test_selections_are_row_major_bags():
    idx_BK = torch.tensor([[3, 1], [0, 2]])
    sel = select_topk(idx_BK, 4)
    assert sel.rows_N.tolist() == [0, 0, 1, 1] and sel.cols_N.tolist() == [3, 1, 0, 2]
    assert sel.offsets_B.tolist() == [0, 2]
    flat = select_flat(torch.tensor([6, 1, 3]), (3, 4))  # rows 1, 0, 0
    assert flat.rows_N.tolist() == [0, 0, 1] and flat.cols_N.tolist() == [1, 3, 2]
    assert flat.offsets_B.tolist() == [0, 2, 3]  # row 2 is an empty bag
    pre = torch.tensor([[0.0, 1.0], [-1.0, 0.5], [2.0, 3.0]])
    m = select_above(pre, torch.tensor([0.5, 0.5]))  # strictly above: 0.5 in row 1 is not
    assert m.offsets_B.tolist() == [0, 1, 1] and m.cols_N.tolist() == [1, 0, 1]
    assert D == 16


@pytest.mark.parametrize("arch", ["topk", "relu"])
def test_encoder_gradient_lands_in_place(synthetic_store, arch):
    """W_enc is SAELens's [d_in, d_sae] view of latent-major storage, and the sparse backward hands its
    gradient over in that storage's layout (no transposed copy), equal to the dense path's."""
    sparse, dense, _, _, x_ND = _pair(arch, "trained", synthetic_store, dead_after=0)
    assert sparse.W_enc.shape == (D, D_SAE) and sparse.W_enc.data_ptr() == sparse.W_enc_FD.data_ptr()
    for sae in (sparse, dense):
        _forward_backward(sae, x_ND[:128])
    grad_FD = sparse.W_enc_FD.grad
    assert grad_FD.shape == (D_SAE, D) and grad_FD.is_contiguous()
    torch.testing.assert_close(grad_FD, dense.W_enc_FD.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(sparse.W_enc, sparse.W_enc_FD.detach().T)
