"""Per-architecture invariants, the sparsity controller, and the random-baseline variants of arXiv 2602.14111."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import D, make_job

from saesanity.config import CEILINGS, CONCEPT_DICTIONARY, VARIANTS, ConfigError, SAEConfig
from saesanity.sae.auxk import DeadLatentTracker, auxk_loss
from saesanity.sae.batchtopk import BatchTopKSAE
from saesanity.sae.registry import ARCHITECTURES, build_sae
from saesanity.sae.sparsity_control import L0Controller
from saesanity.sae.variants import (initialise, project_to_cone, random_directions, remove_parallel_grad)
from saesanity.data.calibration import activation_stats
from saesanity.evals.core import evaluate_core
from saesanity.train import train_sae, training_stats


def _sae(arch: str, d_in: int = 16, d_sae: int = 64, k: float = 4, seed: int = 0, **options):
    sae = build_sae(SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, target_l0=k, options=options))
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(d_in, d_sae, generator=gen) / d_in ** 0.5)
        sae.W_dec.copy_(torch.randn(d_sae, d_in, generator=gen))
        sae.W_dec /= sae.W_dec.norm(dim=1, keepdim=True)
        sae.b_enc.copy_(0.1 * torch.randn(d_sae, generator=gen))
        sae.b_dec.copy_(0.1 * torch.randn(d_in, generator=gen))
    sae.init_extra()
    return sae


def _x(n: int = 32, d: int = 16, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed))


def test_registry_knows_the_four_architectures():
    assert sorted(ARCHITECTURES) == ["batchtopk", "jumprelu", "relu", "topk"]
    with pytest.raises(ConfigError, match="arch"):
        build_sae(SAEConfig(arch="gated", d_in=4, d_sae=8, target_l0=2))
    with pytest.raises(ConfigError, match="nonsense"):
        build_sae(SAEConfig(arch="topk", d_in=4, d_sae=8, target_l0=2, options={"nonsense": 1}))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_shapes_follow_saelens_layout(arch):
    sae = _sae(arch)
    assert sae.W_enc.shape == (16, 64) and sae.W_dec.shape == (64, 16)
    assert sae.b_enc.shape == (64,) and sae.b_dec.shape == (16,)
    x = _x()
    z = sae.encode(x)
    assert z.shape == (32, 64) and (z >= 0).all()
    torch.testing.assert_close(sae(x), z @ sae.W_dec + sae.b_dec)
    # b_dec is subtracted from the input before encoding (apply_b_dec_to_input).
    torch.testing.assert_close(sae.pre_acts(x), (x - sae.b_dec) @ sae.W_enc + sae.b_enc)
    out = sae.training_forward(x)
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert out.z_BF.shape == (32, 64) and out.x_hat_BD.shape == (32, 16)
    assert "mse" in out.parts


# --- TopK ---------------------------------------------------------------------------------------------

def test_topk_at_most_k_per_row():
    sae = _sae("topk", k=5)
    x = _x(64)
    for z in (sae.encode(x), sae.training_forward(x).z_BF):
        assert ((z > 0).sum(1) <= 5).all()
    # With positive pre-activations everywhere, exactly k, and they are the k largest.
    with torch.no_grad():
        sae.b_enc.fill_(100.0)
    pre = sae.pre_acts(x)
    z = sae.encode(x)
    assert ((z > 0).sum(1) == 5).all()
    top_idx = pre.topk(5, dim=1).indices
    torch.testing.assert_close(z.gather(1, top_idx), pre.gather(1, top_idx))
    torch.testing.assert_close(sae.training_forward(x).z_BF, z)


def test_topk_negative_preacts_are_zeroed():
    sae = _sae("topk", k=5)
    with torch.no_grad():
        sae.b_enc.fill_(-100.0)
    assert (sae.encode(_x()) == 0).all()


# --- BatchTopK ----------------------------------------------------------------------------------------

def test_batchtopk_keeps_k_times_batch_in_training():
    sae = _sae("batchtopk", k=3)
    with torch.no_grad():
        sae.b_enc.fill_(10.0)  # all pre-activations positive
    x = _x(40)
    pre = sae.pre_acts(x)
    assert (pre > 0).all()
    z = sae.training_forward(x).z_BF
    assert int((z != 0).sum()) == 3 * 40
    # Per row it varies (not TopK per row), and the kept entries are the largest of the whole batch.
    per_row = (z != 0).sum(1)
    assert per_row.float().mean() == 3 and per_row.min() != per_row.max()
    kept = pre[z != 0]
    assert kept.min() >= pre[z == 0].max()
    torch.testing.assert_close(z[z != 0], kept)


def test_batchtopk_inference_uses_one_global_threshold():
    sae = _sae("batchtopk", k=3, threshold_momentum=0.9)
    x1, x2 = _x(40, seed=1), _x(40, seed=2)
    z1 = sae.training_forward(x1).z_BF
    theta1 = float(sae.threshold)
    assert sae.threshold.ndim == 0
    assert theta1 == pytest.approx(float(z1.detach()[z1 > 0].min()))
    z2 = sae.training_forward(x2).z_BF
    assert float(sae.threshold) == pytest.approx(0.9 * theta1 + 0.1 * float(z2.detach()[z2 > 0].min()), rel=1e-6)
    x = _x(100, seed=3)
    pre = sae.pre_acts(x)
    z = sae.encode(x)
    torch.testing.assert_close(z, pre * (pre > sae.threshold))
    # Inference does not depend on the rest of the batch.
    torch.testing.assert_close(sae.encode(x[:7]), z[:7])


def test_batchtopk_finish_sets_threshold_for_exactly_k_per_row_on_average():
    sae = _sae("batchtopk", k=3)
    x = _x(300, seed=4)
    sae.training_forward(x[:40])
    sae.finish(x)
    assert int((sae.encode(x) > 0).sum()) == 3 * len(x)


# --- JumpReLU -----------------------------------------------------------------------------------------

def test_jumprelu_straight_through_hand_made():
    from saesanity.sae.jumprelu import _JumpReLU, _Step
    eps = 0.05
    # Latent 0: just above theta (inside the window); 1: just below (inside, not firing);
    # 2: far above (outside the window); 3: far below.
    pre = torch.tensor([[0.51, 0.49, 0.9, 0.1]], requires_grad=True)
    theta = torch.full((4,), 0.5, requires_grad=True)
    z = _JumpReLU.apply(pre, theta, eps)
    torch.testing.assert_close(z.detach(), torch.tensor([[0.51, 0.0, 0.9, 0.0]]))
    z.sum().backward()
    # arXiv 2407.14435 Eq. 11: d/dtheta JumpReLU = -(theta / eps) K((pre - theta) / eps), K the rectangle.
    torch.testing.assert_close(theta.grad, torch.tensor([-10.0, -10.0, 0.0, 0.0]))
    # The input gradient is H(pre - theta).
    torch.testing.assert_close(pre.grad, torch.tensor([[1.0, 0.0, 1.0, 0.0]]))

    theta.grad = None
    pre.grad = None
    step = _Step.apply(pre, theta, eps)
    torch.testing.assert_close(step.detach(), torch.tensor([[1.0, 0.0, 1.0, 0.0]]))
    step.sum().backward()
    # Eq. 12: d/dtheta H(pre - theta) = -(1 / eps) K((pre - theta) / eps); no gradient to the input.
    torch.testing.assert_close(theta.grad, torch.tensor([-20.0, -20.0, 0.0, 0.0]))
    assert (pre.grad == 0).all()


def test_jumprelu_threshold_gradient_in_training():
    sae = _sae("jumprelu", bandwidth=0.05, l0_coef_init=0.01)
    x = _x(64)
    pre = sae.pre_acts(x).detach()
    with torch.no_grad():  # put the thresholds among the pre-activations
        sae.threshold.copy_(pre.median(0).values.clamp_min(0.01))
    coef = sae.controller.coef
    out = sae.training_forward(x)
    out.loss.backward()
    g = sae.threshold.grad
    assert g is not None and (g != 0).any()

    # The same gradient by the straight-through formula, by hand.
    # The kernel's bandwidth, in pre-activation units (the option is relative to the pre-activations' scale
    # measured at calibration, which was not run here).
    eps = sae.opts.bandwidth * getattr(sae, "pre_scale", 1.0)
    assert eps == pytest.approx(0.05)
    theta, B = sae.threshold.detach(), x.shape[0]
    z = pre * (pre > theta)
    x_hat = z @ sae.W_dec.detach() + sae.b_dec.detach()
    dloss_dz = 2 * (x_hat - x) @ sae.W_dec.detach().T / B  # mse = sum over dims, mean over batch
    K = ((pre - theta) / eps).abs().lt(0.5).float()
    expected = (dloss_dz * -(theta / eps) * K).sum(0) + coef * (-(1 / eps) * K).sum(0) / B
    torch.testing.assert_close(g, expected, rtol=1e-4, atol=1e-5)


def test_jumprelu_encode_and_threshold_domain():
    sae = _sae("jumprelu", threshold_init=0.3)
    assert (sae.threshold == 0.3).all()
    x = _x()
    pre = sae.pre_acts(x)
    torch.testing.assert_close(sae.encode(x), pre * (pre > sae.threshold))
    with torch.no_grad():
        sae.threshold.fill_(-1.0)
    sae.after_step()
    assert (sae.threshold == 0).all()


# --- ReLU / the L0 controller ------------------------------------------------------------------------

def test_l0_controller_direction():
    c = L0Controller(target_l0=10, coef_init=0.1, rate=0.05)
    c.update(40)
    assert c.coef > 0.1
    high = c.coef
    c.update(10)
    assert c.coef == pytest.approx(high)
    c.update(2)
    assert c.coef < high
    # Bounded per step, even for L0 = 0.
    c2 = L0Controller(target_l0=10, coef_init=1.0, rate=0.5, max_log_step=1.0)
    c2.update(0)
    assert c2.coef == pytest.approx(torch.e ** -0.5)


@pytest.mark.parametrize("arch", ["relu", "jumprelu"])
def test_sae_controller_follows_l0(arch):
    coef_key = {"relu": "l1_coef_init", "jumprelu": "l0_coef_init"}[arch]
    sae = _sae(arch, k=1, **{coef_key: 0.1})
    with torch.no_grad():
        sae.b_enc.fill_(5.0)  # nearly every latent fires: L0 far above target 1
    before = sae.controller.coef
    out = sae.training_forward(_x())
    assert (out.z_BF > 0).sum(1).float().mean() > 1
    assert sae.controller.coef > before
    assert out.parts["sparsity_coef"] == pytest.approx(before)  # the loss used the coefficient before the update
    sae = _sae(arch, k=60, **{coef_key: 0.1})
    with torch.no_grad():
        sae.b_enc.fill_(-5.0)  # nothing fires: L0 below target 60
    sae.training_forward(_x())
    assert sae.controller.coef < 0.1


def test_relu_loss_is_mse_plus_l1():
    sae = _sae("relu", l1_coef_init=0.2)
    x = _x()
    out = sae.training_forward(x)
    z = sae.encode(x)
    mse = ((z @ sae.W_dec + sae.b_dec - x) ** 2).sum(1).mean()
    torch.testing.assert_close(out.loss, mse + 0.2 * z.sum(1).mean())


# --- AuxK ---------------------------------------------------------------------------------------------

def test_dead_latent_tracker_and_auxk():
    tracker = DeadLatentTracker(4, dead_after=10)
    z = torch.tensor([[1.0, 0, 0, 0]] * 6)
    tracker.update((z > 0).any(0), len(z))
    assert not tracker.dead_F.any()
    tracker.update((z > 0).any(0), len(z))
    assert tracker.dead_F.tolist() == [False, True, True, True]
    pre = torch.randn(6, 4)
    W = torch.eye(4)
    residual = torch.randn(6, 4)
    one = torch.tensor(1.0)
    assert auxk_loss(pre, torch.zeros(4, dtype=torch.bool), residual, W, 2, one) == 0
    loss = auxk_loss(pre, tracker.dead_F, residual, W, 2, one)
    assert loss > 0 and torch.isfinite(loss)
    # In the units of the main loss: scaling the data's variance scales the term (alpha keeps its meaning).
    torch.testing.assert_close(auxk_loss(pre, tracker.dead_F, residual, W, 2, 4 * one), 4 * loss)
    # A perfect auxiliary reconstruction gives zero loss.
    e = torch.zeros(6, 4)
    e[:, 1] = torch.arange(1.0, 7.0)
    pre_perfect = torch.full((6, 4), -1.0)
    pre_perfect[:, 1] = e[:, 1]
    assert float(auxk_loss(pre_perfect, tracker.dead_F, e, W, 1, one)) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("shift", [0.0, -5.0])
def test_batch_topk_keeps_the_k_times_B_largest(shift):
    """The dense BatchTopK selection (the curve's, the dense training path's) keeps exactly the k * B
    largest ReLU pre-activations of the batch, also when fewer than k * B are positive (shift -5)."""
    sae = _sae("batchtopk", d_sae=64, k=4)
    pre_BF = torch.randn(50, 64, generator=torch.Generator().manual_seed(1)) + shift
    acts = pre_BF.relu().flatten()
    vals, idx = acts.topk(4 * 50)
    want = torch.zeros_like(acts).scatter(0, idx, vals).view_as(pre_BF)
    assert isinstance(sae, BatchTopKSAE) and torch.equal(sae.batch_topk(pre_BF), want)


# --- Random baselines: init, freezing, cone ------------------------------------------------------------

def test_initialise_shares_dictionary_across_variants_and_archs(synthetic_store):
    stats = activation_stats(synthetic_store, 1024, 0)
    mean, cov = stats.mean_D, stats.cov_DD
    W, b_enc = {}, {}
    for arch in ("topk", "jumprelu"):
        # Ceilings start at the truth (test_fidelity); the concept dictionary is built, not initialised.
        for variant in (v for v in VARIANTS if v not in CEILINGS and v != CONCEPT_DICTIONARY):
            sae = build_sae(make_job(arch, variant).sae)
            W[arch, variant] = initialise(sae, mean, cov, stats.sample_ND)
            b_enc[arch, variant] = sae.b_enc.detach().clone()
            torch.testing.assert_close(sae.W_dec.detach(), W[arch, variant], rtol=0, atol=0)
            torch.testing.assert_close(sae.W_enc.detach(), W[arch, variant].T, rtol=0, atol=0)
            torch.testing.assert_close(sae.b_dec.detach(), mean, rtol=0, atol=0)
            assert sae.W_dec.requires_grad == (not variant.startswith("frozen_decoder"))
            assert sae.W_enc.requires_grad == (not variant.startswith("frozen_encoder"))
    iso = W["topk", "trained"]
    cov_W = W["topk", "frozen_decoder-cov"]
    for (arch, variant), w in W.items():
        init = "cov" if variant.endswith("-cov") else "iso"
        assert torch.equal(w, cov_W if init == "cov" else iso), (arch, variant)
        # Biases too (calibrated or not) are shared by all variants of one architecture and init.
        assert torch.equal(b_enc[arch, variant], b_enc[arch, f"frozen_decoder-{init}"]), (arch, variant)
    assert not torch.equal(iso, cov_W)
    torch.testing.assert_close(iso.norm(dim=1), torch.ones(64))
    # Without a calibration sample, b_enc starts at zero.
    sae = build_sae(make_job("topk").sae)
    initialise(sae, mean, cov)
    assert (sae.b_enc == 0).all()
    # Another seed, another dictionary.
    other = initialise(build_sae(make_job(seed=1).sae), mean, cov, stats.sample_ND)
    assert not torch.equal(other, iso)


def test_cov_init_follows_the_covariance():
    d = 8
    gen = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(d, d, generator=gen, dtype=torch.float64))
    top = Q[:, 0]
    cov = Q @ torch.diag(torch.tensor([25.0] + [1.0] * (d - 1), dtype=torch.float64)) @ Q.T
    W = random_directions(4000, d, "cov", torch.Generator().manual_seed(1), cov)
    assert W.dtype == torch.float32
    torch.testing.assert_close(W.norm(dim=1), torch.ones(4000))
    evals, evecs = torch.linalg.eigh((W.T @ W).double() / len(W))
    assert abs(float(evecs[:, -1] @ top)) > 0.95
    assert evals[-1] > 3 * evals[-2]
    # iso: no preferred direction.
    W_iso = random_directions(4000, d, "iso", torch.Generator().manual_seed(1))
    evals_iso = torch.linalg.eigvalsh((W_iso.T @ W_iso).double() / len(W_iso))
    assert evals_iso.max() < 1.3 / d and evals_iso.min() > 0.7 / d
    # Rank-deficient covariance still works (jitter), and errors are clear.
    low_rank = torch.outer(top, top)
    W_low = random_directions(100, d, "cov", torch.Generator().manual_seed(2), low_rank)
    assert torch.isfinite(W_low).all() and (W_low.double() @ top).abs().min() > 0.99
    with pytest.raises(ValueError, match="covariance"):
        random_directions(10, d, "cov", gen, None)
    with pytest.raises(ValueError, match="unknown init"):
        random_directions(10, d, "pca", gen, cov)


def test_project_to_cone():
    tau = 0.8
    gen = torch.Generator().manual_seed(0)
    U = torch.randn(6, 8, generator=gen)
    U /= U.norm(dim=1, keepdim=True)
    W = U.clone()
    # Rows 0, 1: outside the cone (cos 0.3 and -0.5); 2: inside (cos 0.9); 3: unchanged;
    # 4, 5: exactly opposite their anchor (degenerate).
    for i, c in ((0, 0.3), (1, -0.5), (2, 0.9)):
        v = torch.randn(8, generator=gen)
        v -= (v @ U[i]) * U[i]
        v /= v.norm()
        W[i] = c * U[i] + (1 - c * c) ** 0.5 * v
    W[4], W[5] = -U[4], -U[5]
    W_before = W.clone()
    project_to_cone(W, U, tau)
    cos = (W * U).sum(1)
    for i in (0, 1, 4, 5):
        assert float(cos[i]) == pytest.approx(tau, abs=1e-6)
    torch.testing.assert_close(W.norm(dim=1), torch.ones(6))
    assert torch.equal(W[2], W_before[2]) and torch.equal(W[3], W_before[3])
    # The projection is the nearest point of the cone: it stays in the plane of the row and its anchor,
    # on the same side.
    for i in (0, 1):
        v_before = W_before[i] - (W_before[i] @ U[i]) * U[i]
        v_after = W[i] - (W[i] @ U[i]) * U[i]
        assert float(v_before @ v_after) / float(v_before.norm() * v_after.norm()) == pytest.approx(1, abs=1e-5)


def test_remove_parallel_grad():
    sae = _sae("topk")
    sae.W_dec.grad = torch.randn(64, 16)
    remove_parallel_grad(sae)
    torch.testing.assert_close((sae.W_dec.grad * sae.W_dec).sum(1), torch.zeros(64), atol=1e-5, rtol=0)


# --- Variants end to end through the trainer ----------------------------------------------------------

def _init_of(job, store):
    """The initial dictionary a job starts from: initialise() on a fresh SAE with the same stats."""
    stats = training_stats(store, job.train, job.sae.seed).scaled()
    return initialise(build_sae(job.sae), stats.mean_D, stats.cov_DD, stats.sample_ND)


@pytest.mark.parametrize("arch", ["topk", "jumprelu"])
@pytest.mark.parametrize("init", ["iso", "cov"])
def test_frozen_decoder_is_bit_identical(synthetic_store, arch, init):
    job = make_job(arch, f"frozen_decoder-{init}", n_samples=512)
    sae, _ = train_sae(job, synthetic_store)
    W0 = _init_of(job, synthetic_store)
    assert torch.equal(sae.W_dec.detach(), W0)
    assert not torch.equal(sae.W_enc.detach(), W0.T)  # the encoder did train


@pytest.mark.parametrize("arch", ["relu", "batchtopk"])
@pytest.mark.parametrize("init", ["iso", "cov"])
def test_frozen_encoder_is_bit_identical(synthetic_store, arch, init):
    job = make_job(arch, f"frozen_encoder-{init}", n_samples=512)
    sae, _ = train_sae(job, synthetic_store)
    W0 = _init_of(job, synthetic_store)
    assert torch.equal(sae.W_enc.detach(), W0.T)
    assert not torch.equal(sae.W_dec.detach(), W0)  # the decoder did train
    # ... free in norm: with the encoder frozen, a row's norm is the latent's only gain.
    assert (sae.W_dec.detach().norm(dim=1) - 1).abs().max() > 1e-3


@pytest.mark.parametrize("arch", ["topk", "batchtopk", "jumprelu"])
def test_untrained_is_the_init_calibrated_to_its_l0(synthetic_store, heldout_store, arch, tmp_path):
    """The sanity check's negative control: the shared init (decoder and encoder untouched, b_dec the mean),
    no step taken, its threshold or k set so that it fires at the target L0."""
    job = make_job(arch, "untrained", n_samples=512)
    sae, log = train_sae(job, synthetic_store, tmp_path / "u")
    W0 = _init_of(job, synthetic_store)
    stats = training_stats(synthetic_store, job.train, job.sae.seed)
    # The saved weights take raw activations (the activation scale folded in): the directions are the init's.
    cos = (sae.W_dec.detach() * W0).sum(1) / sae.W_dec.detach().norm(dim=1)
    torch.testing.assert_close(cos, torch.ones(64), rtol=0, atol=1e-6)
    torch.testing.assert_close(sae.b_dec.detach(), stats.mean_D.float(), rtol=1e-5, atol=1e-6)
    assert log.rows == []
    cfg = json.loads((tmp_path / "u" / "cfg.json").read_text())
    assert cfg["saesanity_training"]["tokens_seen"] == 0
    assert cfg["saesanity_training"]["init_cos_min"] == pytest.approx(1.0, abs=1e-6)
    l0 = evaluate_core(sae, heldout_store).l0
    assert l0 == pytest.approx(4, rel=0.25)


@pytest.mark.parametrize("arch", ["batchtopk", "jumprelu"])
def test_soft_frozen_decoder_stays_in_cone(synthetic_store, arch):
    # A large learning rate so that rows reach the edge of the cone in a few steps.
    job = make_job(arch, "soft_frozen_decoder-iso", n_samples=1024, lr=0.05)
    sae, _ = train_sae(job, synthetic_store)
    W0 = _init_of(job, synthetic_store)
    W = sae.W_dec.detach()
    cos = (W * W0).sum(1) / W.norm(dim=1)
    assert cos.min() >= 0.8 - 1e-6
    assert cos.min() < 0.81  # the constraint was active
    torch.testing.assert_close(W.norm(dim=1), torch.ones(64))
    # Without the cone the same run drifts further.
    free, _ = train_sae(make_job(arch, "trained", n_samples=1024, lr=0.05), synthetic_store)
    assert ((free.W_dec.detach() * W0).sum(1)).min() < 0.8 - 1e-3


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_trained_decoder_rows_unit_norm(synthetic_store, arch):
    job = make_job(arch, "trained", n_samples=512)
    sae, _ = train_sae(job, synthetic_store)
    torch.testing.assert_close(sae.W_dec.detach().norm(dim=1), torch.ones(64), rtol=0, atol=1e-5)
    assert not torch.equal(sae.W_dec.detach(), _init_of(job, synthetic_store))
    assert sae.cfg.d_in == D
