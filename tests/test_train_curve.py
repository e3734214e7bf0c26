"""train_curve.csv: reading the curve leaves training alone, and its last point is the held-out EV (Eq. 5)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

from conftest import make_job
from saesanity.evals.core import evaluate_core
from saesanity.sae.io import load_sae, read_training
from saesanity.sae.layout import TRAIN_CURVE, WEIGHTS
from saesanity.train import train_sae, train_saes
from saesanity.train_curve import curve_steps


def test_curve_steps_hold_the_init_the_last_quarter_and_the_end():
    assert curve_steps(16, 4) == [0, 4, 8, 12, 16]
    assert 15 in curve_steps(20, 3) and curve_steps(20, 3)[-1] == 20  # 3/4 of 20 although 3 points miss it
    assert curve_steps(16, 0) == []


@pytest.mark.parametrize("arch,variant", [("batchtopk", "trained"), ("jumprelu", "soft_frozen_decoder-iso"),
                                          ("topk", "frozen_decoder-iso")])
def test_curve_points_leave_the_weights_bit_identical(tmp_path, synthetic_store, heldout_store, arch, variant):
    job = make_job(arch, variant, n_samples=2048, curve_points=8)
    train_sae(job, synthetic_store, tmp_path / "plain")
    train_sae(job, synthetic_store, tmp_path / "curve", heldout=heldout_store)
    plain, curve = load_file(tmp_path / "plain" / WEIGHTS), load_file(tmp_path / "curve" / WEIGHTS)
    assert plain.keys() == curve.keys()
    for k in plain:
        assert torch.equal(plain[k], curve[k]), k
    assert not (tmp_path / "plain" / TRAIN_CURVE).exists()
    assert len(pd.read_csv(tmp_path / "curve" / TRAIN_CURVE)) == 9


def test_one_pass_with_curves_gives_the_same_bytes(tmp_path, synthetic_store, heldout_store):
    jobs = [make_job("topk", v, curve_points=4) for v in ("trained", "frozen_decoder-iso")]
    train_saes(jobs, synthetic_store, [tmp_path / "a", tmp_path / "b"], heldout=heldout_store)
    train_sae(jobs[1], synthetic_store, tmp_path / "alone")
    for k, v in load_file(tmp_path / "alone" / WEIGHTS).items():
        assert torch.equal(v, load_file(tmp_path / "b" / WEIGHTS)[k])


def test_last_point_is_eval_cores_ev(tmp_path, synthetic_store, heldout_store):
    """TopK's curve encodes as at inference: the last point on all held-out rows is eval_core's EV, although the
    curve ran in training units (activation scale) and eval_core on the folded SAE in raw units."""
    job = make_job("topk", n_samples=2048, curve_points=4, curve_rows=heldout_store.count)
    train_sae(job, synthetic_store, tmp_path / "sae", heldout=heldout_store)
    curve = pd.read_csv(tmp_path / "sae" / TRAIN_CURVE)
    training = read_training(tmp_path / "sae")
    core = evaluate_core(load_sae(tmp_path / "sae"), heldout_store)
    assert training["curve_heldout_ev"] == pytest.approx(core.explained_variance, abs=1e-5)
    assert curve.heldout_ev.iloc[-1] == pytest.approx(core.explained_variance, abs=1e-5)
    assert curve.tokens.iloc[-1] == training["tokens_seen"] == 2048
    assert curve.init_cos_mean.iloc[0] == pytest.approx(1.0) and curve.init_cos_min.iloc[-1] < 1
    assert training["init_cos_mean"] == pytest.approx(curve.init_cos_mean.iloc[-1], abs=1e-5)


def test_batchtopk_curve_is_batch_topk_over_the_heldout_rows(tmp_path, synthetic_store, heldout_store):
    """BatchTopK's curve keeps the k * N largest ReLU pre-activations of the N held-out rows: checked against a
    direct computation on the saved (raw-unit) SAE, whose threshold the curve does not use."""
    job = make_job("batchtopk", n_samples=2048, curve_points=4, curve_rows=heldout_store.count)
    train_sae(job, synthetic_store, tmp_path / "sae", heldout=heldout_store)
    sae = load_sae(tmp_path / "sae")
    x_ND = torch.from_numpy(heldout_store.read_all()).double()
    with torch.no_grad():
        pre_NF = sae.pre_acts(x_ND.float()).double().relu()
        keep = pre_NF.flatten().topk(sae.k * len(x_ND)).indices
        z_NF = torch.zeros_like(pre_NF).flatten().scatter(0, keep, pre_NF.flatten()[keep]).view_as(pre_NF)
        x_hat = z_NF @ sae.W_dec.double() + sae.b_dec.double()
    ev = 1 - (x_ND - x_hat).pow(2).sum(-1).mean() / (x_ND - x_ND.mean(0)).pow(2).sum(-1).mean()
    assert read_training(tmp_path / "sae")["curve_heldout_ev"] == pytest.approx(float(ev), abs=1e-4)


def test_converged_is_the_last_quarters_gain_below_the_threshold(tmp_path, synthetic_store, heldout_store):
    for threshold, expected in ((1.0, True), (0.0, False)):
        job = make_job("topk", n_samples=2048, lr=1e-2, curve_points=4, converged_ev_gain=threshold)
        train_sae(job, synthetic_store, tmp_path / str(threshold), heldout=heldout_store)
        training = read_training(tmp_path / str(threshold))
        curve = pd.read_csv(tmp_path / str(threshold) / TRAIN_CURVE)
        gain = curve.heldout_ev.iloc[-1] - curve[curve.step == 24].heldout_ev.iloc[0]  # 3/4 of 32 steps
        assert training["ev_gain_last_quarter"] == pytest.approx(gain, abs=1e-5)
        assert training["converged"] is expected  # |gain| is below 1 and never below 0


def test_a_falling_curve_is_not_converged():
    from saesanity.train_curve import TrainCurve
    curve = TrainCurve(torch.zeros(1, 1), torch.zeros(1, 1), [], 1)
    curve.rows = [{"step": s, "heldout_ev": ev} for s, ev in ((0, 0.1), (75, 0.73), (100, 0.13))]
    summary = curve.summary(0.005)
    assert summary["ev_gain_last_quarter"] == pytest.approx(-0.6) and summary["converged"] is False
    curve.rows[-1]["heldout_ev"] = 0.732
    assert curve.summary(0.005)["converged"] is True


def test_without_heldout_the_summary_says_no_curve(tmp_path, synthetic_store):
    train_sae(make_job("topk"), synthetic_store, tmp_path / "sae")
    training = read_training(tmp_path / "sae")
    assert training["converged"] is None and training["ev_gain_last_quarter"] is None
    assert training["tokens_seen"] == 1024
