"""MCC at any scale: the sparse matching against the exact one, its certificate, and the consistency record."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from saesanity.evals.consistency import sparse_matching
from saesanity.evals.consistency.mcc import exact_mcc, mcc, shared_fraction
from saesanity.evals.consistency.sparse_matching import (bf16_error, candidate_search, greedy_complete,
                                                         non_candidate_bound, sparse_mcc)
from saesanity.train import train_sae

from conftest import make_job

# Small blocks so that the candidate search merges across several blocks in both directions.
SMALL = dict(block_rows=48, block_cols=80)


def _assert_valid(s, e, n):
    assert s.method == "sparse" and len(s.rows) == len(s.cols) == len(s.cosines) == n
    assert len(np.unique(s.rows)) == n and len(np.unique(s.cols)) == n
    assert s.mcc <= e.mcc + 1e-6 <= s.upper_bound + 2e-6  # a matching cannot beat the optimum, nor the bound


@pytest.mark.parametrize("F,G,d", [(300, 300, 32), (200, 333, 24), (333, 200, 64)])
def test_sparse_agrees_with_exact_on_random_dictionaries(F, G, d):
    rng = np.random.default_rng(F + G)
    A, B = rng.standard_normal((F, d)), rng.standard_normal((G, d))
    e, s = exact_mcc(A, B), sparse_mcc(A, B, candidates=8, **SMALL)
    _assert_valid(s, e, min(F, G))
    assert abs(s.mcc - e.mcc) < 1e-3
    assert s.gap < 0.02
    # The matched cosines are the cosines of the pairs it names (rows index A, cols index B).
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    Bn = B / np.linalg.norm(B, axis=1, keepdims=True)
    np.testing.assert_allclose((An[s.rows] * Bn[s.cols]).sum(1), s.cosines, atol=1e-5)


def test_sparse_recovers_a_perturbed_permuted_copy():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((400, 48))
    perm = rng.permutation(400)
    B = A[perm] + 0.3 * rng.standard_normal((400, 48))
    s = sparse_mcc(A, B, candidates=4, **SMALL)
    np.testing.assert_array_equal(perm[s.cols], s.rows)
    assert s.mcc == pytest.approx(exact_mcc(A, B).mcc, abs=1e-6)
    assert s.gap < 1e-6  # each row's best candidate is its partner: the row-maxima bound is tight


def test_sparse_agrees_with_exact_on_trained_saes(synthetic_store):
    decoders = [train_sae(make_job("topk", seed=s, d_sae=96), synthetic_store)[0].W_dec.detach().numpy()
                for s in (0, 1)]
    e = exact_mcc(*decoders)
    s = sparse_mcc(*decoders, candidates=8, block_rows=32, block_cols=40)
    _assert_valid(s, e, 96)
    assert abs(s.mcc - e.mcc) < 1e-3


def test_fallback_completes_the_matching_when_candidates_have_none():
    # Every row of A is nearly the same vector, so with one candidate each all rows pick the same column:
    # the candidate graph has no full matching and the greedy + Hungarian completion must supply one.
    rng = np.random.default_rng(0)
    u = rng.standard_normal(16)
    A = u + 0.01 * rng.standard_normal((60, 16))
    B = rng.standard_normal((70, 16))
    e, s = exact_mcc(A, B), sparse_mcc(A, B, candidates=1, **SMALL)
    _assert_valid(s, e, 60)


def test_exact_max_latents_bounds_the_fallback_too(monkeypatch):
    # consistency.exact_max_latents bounds every dense Hungarian step: the fallback's residue included.
    rng = np.random.default_rng(0)
    A = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((6, 4))).float(), dim=1)
    B = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((6, 4))).float(), dim=1)
    none = np.array([], np.int64)
    rows, cols = greedy_complete(6, 6, none, none, np.array([]), A, B, exact_max_latents=5)
    np.testing.assert_array_equal(cols, np.arange(6))  # residue above the limit: paired in order, no Hungarian
    _, cols = greedy_complete(6, 6, none, none, np.array([]), A, B, exact_max_latents=6)
    assert (A[rows] * B[cols]).sum().item() == pytest.approx(exact_mcc(A.numpy(), B.numpy()).mcc * 6, abs=1e-5)
    seen = []
    real = sparse_matching.greedy_complete
    monkeypatch.setattr(sparse_matching, "greedy_complete", lambda *a: seen.append(a[-1]) or real(*a))
    u = rng.standard_normal(16)
    mcc(u + 0.01 * rng.standard_normal((60, 16)), rng.standard_normal((70, 16)), exact_max_latents=50, candidates=1)
    assert seen == [50]


def test_non_candidate_bound_holds_for_every_pair():
    """tau_i (from bfloat16 products) bounds the exact cosine of every pair outside row i's top-k."""
    rng = np.random.default_rng(1)
    A = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((150, 200))).float(), dim=1)
    B = torch.nn.functional.normalize(torch.from_numpy(rng.standard_normal((170, 200))).float(), dim=1)
    row_v, row_i, _, _ = candidate_search(A, B, 5, **SMALL)
    tau = non_candidate_bound(row_v[:, -1], bf16_error(A), float(bf16_error(B).max()), 200)
    C = (A.double() @ B.double().T).numpy()
    C[np.arange(150)[:, None], row_i.numpy()] = -np.inf
    assert (C.max(1) <= tau).all()
    # and the top-k it found are the true top-k up to bfloat16 error
    exact_top = np.sort((A.double() @ B.double().T).numpy(), axis=1)[:, -5:]
    np.testing.assert_allclose(np.sort(row_v.numpy(), axis=1), exact_top, atol=0.02)


def test_mcc_picks_the_method_by_size():
    rng = np.random.default_rng(2)
    A, B = rng.standard_normal((40, 8)), rng.standard_normal((40, 8))
    exact = mcc(A, B)
    assert exact.method == "exact" and exact.gap == 0
    large = mcc(A, B, exact_max_latents=39, candidates=40)
    assert large.method == "sparse"
    assert large.mcc == pytest.approx(exact.mcc, abs=1e-6)  # every pair a candidate: the optimum


def test_sparse_is_deterministic():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((120, 16)), rng.standard_normal((130, 16))
    s1, s2 = sparse_mcc(A, B, candidates=3, **SMALL), sparse_mcc(A, B, candidates=3, **SMALL)
    np.testing.assert_array_equal(s1.cols, s2.cols)
    assert s1.upper_bound == s2.upper_bound


def test_shared_fraction_needs_both_encoder_and_decoder():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((10, 32))
    m = mcc(W, W)  # decoders identical: every matched cosine is 1
    enc_b = W.copy()
    enc_b[:4] = rng.standard_normal((4, 32))  # four encoders differ (random vectors in 32 dims: cos << 0.7)
    assert shared_fraction(m, W, enc_b) == pytest.approx(0.6)
    assert shared_fraction(m, W, W) == 1.0
