"""Checkpoints during training, shared random inits, the consistency record and the PW-MCC validation."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_job

from saesanity.config import ConfigError, ConsistencyConfig, TrainConfig
from saesanity.evals.consistency.seeds import consistency_metrics
from saesanity.evals.consistency.validation import validation_metrics
from saesanity.pipeline.specs import train_spec
from saesanity.sae.io import load_sae
from saesanity.tables.validation import correlation_table, pearson_ci
from saesanity.train import train_sae

COUNTS = (256, 640)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory, synthetic_store):
    """Two seeds of one TopK SAE with checkpoints at 256 and 640 samples (1024 in all, batch 64)."""
    root = tmp_path_factory.mktemp("seeds")
    dirs = []
    for seed in (0, 1):
        job = make_job("topk", seed=seed, d_sae=32, checkpoints=COUNTS)
        train_sae(job, synthetic_store, root / f"seed{seed}", metadata={"source": "synthetic-constant"})
        dirs.append(root / f"seed{seed}")
    return dirs


def test_checkpoints_are_saved_and_leave_training_alone(tmp_path, synthetic_store, two_seeds):
    folder = two_seeds[0] / "checkpoints"
    assert sorted(p.name for p in folder.iterdir()) == ["256", "640"]
    meta = json.loads((folder / "640" / "cfg.json").read_text())["metadata"]
    assert meta["checkpoint_samples"] == 640 and meta["samples_seen"] == 640
    early, final = load_sae(folder / "256"), load_sae(two_seeds[0])
    assert not np.allclose(early.W_dec.detach(), final.W_dec.detach())
    # The final weights are the same bytes as a run without checkpoints.
    train_sae(make_job("topk", seed=0, d_sae=32), synthetic_store, tmp_path / "plain",
              metadata={"source": "synthetic-constant"})
    assert (tmp_path / "plain/sae_weights.safetensors").read_bytes() == \
        (two_seeds[0] / "sae_weights.safetensors").read_bytes()
    assert list((tmp_path / "plain/checkpoints").iterdir()) == []


def test_checkpoint_counts_are_checked():
    with pytest.raises(ConfigError, match="checkpoints"):
        TrainConfig(n_samples=1000, checkpoints=(1000,))
    assert TrainConfig(n_samples=1000, checkpoints=(500, 100)).checkpoints == (100, 500)


def test_consistency_record(two_seeds):
    cfg = ConsistencyConfig(histogram_bins=10)
    rec = consistency_metrics(two_seeds, cfg)
    assert rec["seeds"] == [0, 1] and rec["init"] == "per_seed" and rec["method"] == ["exact"]
    assert len(rec["pair_mcc"]) == 1 and rec["max_gap"] == 0
    assert 0 <= rec["shared_fraction"] <= 1
    assert sum(rec["matched_cos_hist"]["counts"]) == 32 and len(rec["matched_cos_hist"]["edges"]) == 11
    # The large-scale path gives the same PW-MCC here (every pair a candidate) and reports its method.
    sparse = consistency_metrics(two_seeds, ConsistencyConfig(exact_max_latents=8, candidates=32))
    assert sparse["method"] == ["sparse"] and sparse["pw_mcc"] == pytest.approx(rec["pw_mcc"], abs=1e-6)


def test_consistency_refuses_mixed_groups(tmp_path, synthetic_store, two_seeds):
    train_sae(make_job("relu", seed=2, d_sae=32), synthetic_store, tmp_path / "relu",
              metadata={"source": "synthetic-constant"})
    with pytest.raises(ValueError, match="one SAE configuration"):
        consistency_metrics([two_seeds[0], tmp_path / "relu"])


def test_shared_baseline_init(tmp_path, synthetic_store):
    """baseline_init: shared gives every baseline seed the same initial dictionary; the data order still
    follows the seed, and the record says 'shared'."""
    config = {"synthetic": {"d": 16}, "soft_frozen_tau": 0.8, "arch": {},
              "saes": {"synthetic": {"d_sae": 32, "target_l0": 4, "baseline_seeds": [3, 4], "baseline_init": "shared",
                                     "train": {"n_samples": 512, "batch_size": 64}}}}
    spec = json.loads(train_spec(config, "synthetic-x", "topk", "frozen_decoder-iso", 4))
    assert spec["sae"]["init_seed"] == 3 and spec["sae"]["seed"] == 4
    assert "init_seed" not in json.loads(train_spec(config, "synthetic-x", "topk", "trained", 4))["sae"]
    dirs = []
    for seed in (3, 4):
        job = make_job("topk", variant="frozen_decoder-iso", seed=seed, d_sae=32, n_samples=512)
        job = type(job)(sae=type(job.sae)(**{**job.sae.__dict__, "init_seed": 3}), train=job.train)
        train_sae(job, synthetic_store, tmp_path / f"s{seed}", metadata={"source": "synthetic-constant"})
        dirs.append(tmp_path / f"s{seed}")
    rec = consistency_metrics(dirs)
    assert rec["init"] == "shared"
    assert rec["pw_mcc"] == pytest.approx(1.0)  # the frozen random decoders are one and the same
    enc = [load_sae(d).W_enc.detach().numpy() for d in dirs]
    assert not np.allclose(enc[0], enc[1])  # trained on differently ordered data


def test_validation_points(two_seeds, synthetic_dir):
    rec = validation_metrics(two_seeds, synthetic_dir / "features.parquet")
    assert [p["samples"] for p in rec["points"]] == [256, 640, 1024]
    assert [p["final"] for p in rec["points"]] == [False, False, True]
    final = rec["points"][-1]
    assert final["pw_mcc"] == pytest.approx(consistency_metrics(two_seeds)["pw_mcc"])
    assert len(final["gt_mcc_seeds"]) == 2 and final["gt_mcc"] == pytest.approx(np.mean(final["gt_mcc_seeds"]))


def test_correlation_table_on_planted_points():
    gt = np.linspace(0.2, 0.9, 6)
    points = pd.DataFrame({"distribution": ["a"] * 3 + ["b"] * 3, "gt_mcc": gt, "pw_mcc": 0.5 * gt + 0.1,
                           "gt_mcc_std": 0.01})
    corr = correlation_table(points).set_index("scope")
    assert corr.loc["all", "pearson_r"] == pytest.approx(1.0)
    assert corr.loc["a", "spearman_r"] == pytest.approx(1.0) and corr.loc["b", "n_points"] == 3
    assert corr.loc["all", "mean_pw_minus_gt"] == pytest.approx(float((0.5 * gt + 0.1 - gt).mean()))
    assert corr.loc["a", "informative"] and "pools data sets" in corr.loc["all", "note"]


def test_correlation_over_seed_noise_is_flagged_and_has_an_interval():
    """12 points whose GT-MCC spans 0.017 with a seed std of 0.005 (the default build's 3200-feature
    panel before it learned anything): a high r there is noise, and the table says so."""
    rng = np.random.default_rng(0)
    gt = 0.334 + rng.uniform(0, 0.017, 12)
    points = pd.DataFrame({"distribution": "noise", "gt_mcc": gt, "pw_mcc": gt + rng.normal(0, 0.002, 12),
                           "gt_mcc_std": 0.005})
    row = correlation_table(points).set_index("scope").loc["noise"]
    assert not row.informative and "seed noise" in row.note
    assert row.pearson_ci_low < row.pearson_r < row.pearson_ci_high
    lo, hi = pearson_ci(0.5, 28)  # Fisher z: tanh(atanh(0.5) -+ 1.96 / 5)
    assert lo == pytest.approx(0.156, abs=1e-3) and hi == pytest.approx(0.736, abs=1e-3)
