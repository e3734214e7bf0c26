"""Core metrics (EV around the mean, Eq. 5 of arXiv 2602.14111), recovery (Eq. 6) and MCC (arXiv 2505.20254)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import write_store

from saesanity.config import SAEConfig
from saesanity.evals.consistency.mcc import mcc, pairwise_mcc
from saesanity.evals.core import CoreAccumulator, evaluate_core
from saesanity.evals.recovery import max_cosine, recovered_fraction, unit_rows
from saesanity.sae.registry import build_sae


def _acc(x: np.ndarray, x_hat: np.ndarray, z: np.ndarray | None = None, batch: int = 100):
    """EV etc. from an accumulator fed in several batches."""
    z = np.zeros((len(x), 3)) if z is None else z
    acc = CoreAccumulator(x.shape[1], z.shape[1])
    for i in range(0, len(x), batch):
        acc.add(torch.from_numpy(x[i:i + batch]), torch.from_numpy(x_hat[i:i + batch]),
                torch.from_numpy(z[i:i + batch]))
    return acc.result()


@pytest.fixture
def offset_data():
    """Data with a large offset: the mean dominates the second moment."""
    rng = np.random.default_rng(0)
    return (50.0 + rng.standard_normal((1000, 8))).astype(np.float32)


def test_ev_blocks_sum_to_the_ev_whatever_the_batches(offset_data):
    # Blocks of 64 rows fed in batches of 100 (blocks straddle batches); the last block is short (1000 = 15 x 64 + 40).
    x_hat = offset_data + np.random.default_rng(1).standard_normal(offset_data.shape).astype(np.float32)
    acc = CoreAccumulator(8, 3, block_rows=64)
    for i in range(0, 1000, 100):
        acc.add(torch.from_numpy(offset_data[i:i + 100]), torch.from_numpy(x_hat[i:i + 100]), torch.zeros(100, 3))
    m = acc.result()
    blocks = m.ev_blocks
    assert blocks["block_rows"] == 64 and len(blocks["total"]) == 16
    assert sum(blocks["explained"]) / sum(blocks["total"]) == pytest.approx(m.explained_variance, rel=1e-9)
    x = offset_data.astype(np.float64)
    last = x[960:] - x.mean(0)
    assert blocks["total"][-1] == pytest.approx(float((last ** 2).sum()), rel=1e-9)


def test_ev_perfect_reconstruction(offset_data):
    m = _acc(offset_data, offset_data)
    assert m.explained_variance == 1.0 and m.mse == 0.0 and m.n_samples == 1000


def test_ev_is_around_the_mean(offset_data):
    x = offset_data
    mean = np.broadcast_to(x.astype(np.float64).mean(0), x.shape).copy()
    m = _acc(x, mean)
    assert m.explained_variance == pytest.approx(0.0, abs=1e-9)
    # A zero-centred formula, 1 - E||x - x_hat||^2 / E||x||^2, would call this almost perfect.
    zero_centred = 1 - ((x - mean) ** 2).sum(1).mean() / (x.astype(np.float64) ** 2).sum(1).mean()
    assert zero_centred > 0.99
    # Predicting zero is far worse than the mean.
    assert _acc(x, np.zeros_like(x)).explained_variance < -100


def test_ev_partial(offset_data):
    x = offset_data.astype(np.float64)
    mean = x.mean(0)
    x_hat = mean + 0.5 * (x - mean)  # the error is 1/4 of the variance
    assert _acc(x, x_hat).explained_variance == pytest.approx(0.75, abs=1e-9)


def test_l0_and_dead_fraction():
    x = np.zeros((200, 2))
    z = np.zeros((200, 5))
    z[:, 0] = 1.0           # always fires
    z[::50, 1] = 2.0        # fires on 4 of 200 rows
    z[7, 2] = -0.5          # non-zero counts as firing
    m = _acc(x + np.arange(2) + np.arange(200)[:, None], x + np.arange(2) + np.arange(200)[:, None], z)
    assert m.l0 == pytest.approx((200 + 4 + 1) / 200)
    assert m.dead_fraction == pytest.approx(2 / 5)  # latents 3 and 4 never fire


def test_evaluate_core_on_a_store(tmp_path):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((300, 4)) + 10).astype(np.float32)
    store = write_store(tmp_path, x, shard_rows=128)
    sae = build_sae(SAEConfig(arch="relu", d_in=4, d_sae=8, target_l0=2))
    with torch.no_grad():
        sae.W_enc.copy_(torch.cat([torch.eye(4), -torch.eye(4)], 1))
        sae.W_dec.copy_(torch.cat([torch.eye(4), -torch.eye(4)], 0))
        sae.b_dec.fill_(10.0)
    # relu(x - 10) - relu(10 - x) reconstructs x exactly; half the latents fire on each coordinate.
    m = evaluate_core(sae, store, chunk_rows=100)
    assert m.explained_variance == pytest.approx(1.0, abs=1e-6)
    assert m.n_samples == 300 and m.dead_fraction == 0.0
    assert m.l0 == pytest.approx(4.0, abs=0.01)
    # A dictionary that only reconstructs the mean: b_dec = mean, nothing fires.
    with torch.no_grad():
        sae.b_dec.copy_(torch.from_numpy(x.astype(np.float64).mean(0)))
        sae.b_enc.fill_(-1e3)
    m = evaluate_core(sae, store)
    assert m.explained_variance == pytest.approx(0.0, abs=1e-5)
    assert m.l0 == 0 and m.dead_fraction == 1.0
    assert evaluate_core(sae, store, limit=50).n_samples == 50


# --- recovery -----------------------------------------------------------------------------------------

def _orthonormal(n: int, d: int, seed: int = 0) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, n)))
    return q.T  # n orthonormal rows


def test_recovery_of_a_permuted_scaled_copy():
    A = np.random.default_rng(0).standard_normal((40, 16))
    perm = np.random.default_rng(1).permutation(40)
    B = 3.0 * A[perm]  # scale does not matter: cosines
    cos = max_cosine(A, B, block=7)
    np.testing.assert_allclose(cos, 1.0, atol=1e-12)
    assert recovered_fraction(cos) == 1.0


def test_recovery_threshold():
    assert recovered_fraction(np.array([0.79, 0.8, 0.95, 0.1])) == 0.5
    assert recovered_fraction(np.array([0.5, 0.6]), threshold=0.55) == 0.5
    Q = _orthonormal(8, 8)
    U, V = Q[:4], Q[4:]
    learned = 0.6 * U + 0.8 * V  # unit rows, cosine 0.6 with their feature, 0 with the others
    cos = max_cosine(U, learned)
    np.testing.assert_allclose(cos, 0.6, atol=1e-12)
    assert recovered_fraction(cos) == 0.0
    cos = max_cosine(U, np.vstack([learned, U[2]]))
    assert recovered_fraction(cos) == 0.25


def test_unit_rows_handles_zero_rows():
    W = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(unit_rows(W), [[0.6, 0.8], [0.0, 0.0]])


# --- MCC ----------------------------------------------------------------------------------------------

def test_mcc_of_a_permutation_is_one():
    A = np.random.default_rng(0).standard_normal((64, 16))
    perm = np.random.default_rng(1).permutation(64)
    m = mcc(A, 2.0 * A[perm])
    assert m.mcc == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_array_equal(perm[m.cols], m.rows)
    assert len(m.cosines) == 64


def test_mcc_uses_signed_cosines():
    U = _orthonormal(8, 16)
    flipped = U.copy()
    flipped[:4] *= -1
    # Four rows match with +1; the four flipped ones have cosine -1 with their partner and 0 with any other
    # row, so the best one-to-one matching pairs them among themselves at 0: MCC = 4/8.
    assert mcc(U, flipped).mcc == pytest.approx(0.5, abs=1e-12)
    assert mcc(U, -U).mcc == pytest.approx(0.0, abs=1e-12)
    A = np.random.default_rng(0).standard_normal((32, 16))
    B = A.copy()
    B[::2] *= -1
    assert mcc(A, B).mcc < 0.9


def test_mcc_unequal_sizes():
    A = np.random.default_rng(0).standard_normal((50, 16))
    perm = np.random.default_rng(1).permutation(50)[:20]
    small = A[perm]
    for m in (mcc(A, small), mcc(small, A)):
        assert len(m.rows) == len(m.cols) == len(m.cosines) == 20
        assert m.mcc == pytest.approx(1.0, abs=1e-12)
    m = mcc(A, small)
    np.testing.assert_array_equal(np.sort(m.rows), np.sort(perm))


def test_mcc_random_dictionaries_below_one():
    rng = np.random.default_rng(0)
    m = mcc(rng.standard_normal((32, 16)), rng.standard_normal((32, 16)))
    assert 0 < m.mcc < 0.7


def test_pairwise_mcc():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((20, 8))
    B = A[rng.permutation(20)]
    C = rng.standard_normal((20, 8))
    mean, matchings = pairwise_mcc([A, B, C])
    pairs = [m.mcc for m in matchings]
    assert len(pairs) == 3
    assert pairs[0] == pytest.approx(1.0)  # (A, B)
    assert pairs[1] == pytest.approx(mcc(A, C).mcc) and pairs[2] == pytest.approx(mcc(B, C).mcc)
    assert mean == pytest.approx(np.mean(pairs))
    with pytest.raises(ValueError, match="two"):
        pairwise_mcc([A])
