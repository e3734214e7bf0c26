"""The synthetic ground truth of arXiv 2602.14111, section 3, and its on-disk contract (docs/design.md)."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import tiny_synthetic_config

from saesanity.config import ProbabilityModel, SyntheticConfig
from saesanity.data.store import ActivationStore
from saesanity.data.synthetic import (firing_probabilities, generate, ground_truth_directions, read_features,
                                      sample_activations, sample_codes)

PAPER_CONSTANT = SyntheticConfig(probability=ProbabilityModel("constant"))
PAPER_VARIABLE = SyntheticConfig(probability=ProbabilityModel("variable"))


def test_paper_defaults():
    assert (PAPER_CONSTANT.d, PAPER_CONSTANT.n_features) == (100, 3200)
    assert PAPER_CONSTANT.probability.p == 0.00625
    assert (PAPER_CONSTANT.lognormal_mu, PAPER_CONSTANT.lognormal_sigma) == (0.0, 0.25)
    assert (PAPER_VARIABLE.probability.log10_p_min, PAPER_VARIABLE.probability.log10_p_max) == (-5.5, -1.2)


@pytest.fixture(scope="module")
def constant_codes():
    p_F = firing_probabilities(PAPER_CONSTANT)
    return sample_codes(np.random.default_rng(123), 20_000, p_F, 0.0, 0.25)


def test_constant_model_has_about_20_active_features(constant_codes):
    active_N = constant_codes.getnnz(axis=1)
    assert active_N.mean() == pytest.approx(20.0, rel=0.02)
    # Bernoulli counts: the per-sample count is ~Binomial(3200, 0.00625), variance about 19.9.
    assert active_N.var() == pytest.approx(3200 * 0.00625 * (1 - 0.00625), rel=0.1)
    # Each feature fires with probability p: per-feature frequencies average p and are not all equal.
    freq_F = constant_codes.getnnz(axis=0) / constant_codes.shape[0]
    assert freq_F.mean() == pytest.approx(0.00625, rel=0.02)
    assert freq_F.std() > 0


def test_lognormal_coefficients(constant_codes):
    c = constant_codes.data
    assert (c > 0).all()
    log_c = np.log(c)
    assert abs(log_c.mean()) < 0.01
    assert log_c.std() == pytest.approx(0.25, rel=0.03)


def test_sample_codes_other_lognormal_parameters():
    a = sample_codes(np.random.default_rng(0), 5000, np.full(50, 0.2), mu=1.0, sigma=0.5)
    log_c = np.log(a.data)
    assert log_c.mean() == pytest.approx(1.0, abs=0.02)
    assert log_c.std() == pytest.approx(0.5, rel=0.03)


def test_sample_codes_zero_probability_never_fires():
    p_F = np.array([0.0, 0.5, 0.0, 1.0])
    a = sample_codes(np.random.default_rng(0), 1000, p_F, 0.0, 0.25).toarray()
    assert (a[:, [0, 2]] == 0).all()
    assert (a[:, 3] > 0).all()
    assert 0.4 < (a[:, 1] > 0).mean() < 0.6


def test_loguniform_analytic_mean():
    lo, hi = -5.5, -1.2
    # E[p] for log10 p ~ U(lo, hi): (10^hi - 10^lo) / ((hi - lo) ln 10).
    mean_p = (10 ** hi - 10 ** lo) / ((hi - lo) * math.log(10))
    assert 3200 * mean_p == pytest.approx(20, rel=0.05)
    # Numerical check of the closed form.
    u = np.linspace(lo, hi, 200_001)
    assert np.trapezoid(10.0 ** u, u) / (hi - lo) == pytest.approx(mean_p, rel=1e-6)


def test_variable_model_probabilities():
    p_F = firing_probabilities(PAPER_VARIABLE)
    assert p_F.shape == (3200,)
    assert p_F.min() >= 10 ** -5.5 and p_F.max() <= 10 ** -1.2
    # Spread over the whole range, log-uniformly.
    log_p = np.log10(p_F)
    assert log_p.min() < -5.3 and log_p.max() > -1.4
    assert log_p.mean() == pytest.approx((-5.5 - 1.2) / 2, abs=0.1)
    assert 17 < p_F.sum() < 24
    # Drawn once per feature from the seed: the same config gives the same p, another seed other p.
    np.testing.assert_array_equal(p_F, firing_probabilities(PAPER_VARIABLE))
    other = SyntheticConfig(probability=ProbabilityModel("variable"), seed=1)
    assert not np.array_equal(p_F, firing_probabilities(other))
    # And samples from it average sum(p) active features.
    codes = sample_codes(np.random.default_rng(5), 10_000, p_F, 0.0, 0.25)
    assert codes.getnnz(axis=1).mean() == pytest.approx(p_F.sum(), rel=0.03)


def test_constant_model_probabilities():
    np.testing.assert_array_equal(firing_probabilities(PAPER_CONSTANT), np.full(3200, 0.00625))


def test_directions_unit_norm_and_isotropic():
    f_FD = ground_truth_directions(PAPER_CONSTANT)
    assert f_FD.shape == (3200, 100) and f_FD.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(f_FD, axis=1), 1.0, atol=1e-5)
    # Uniform on the sphere: no preferred direction.
    assert np.abs(f_FD.mean(0)).max() < 0.01
    np.testing.assert_array_equal(f_FD, ground_truth_directions(PAPER_CONSTANT))


def test_activations_are_codes_times_directions():
    cfg = tiny_synthetic_config()
    f_FD, p_F = ground_truth_directions(cfg), firing_probabilities(cfg)
    x = sample_activations(np.random.default_rng(7), 50, f_FD, p_F, cfg)
    a = sample_codes(np.random.default_rng(7), 50, p_F, cfg.lognormal_mu, cfg.lognormal_sigma)
    assert x.dtype == np.float32 and x.shape == (50, cfg.d)
    np.testing.assert_allclose(x, a.toarray() @ f_FD.astype(np.float64), rtol=1e-5, atol=1e-6)


def _files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_is_deterministic(tmp_path, synthetic_dir):
    generate(tiny_synthetic_config(seed=0), tmp_path / "again")
    first, again = _files(synthetic_dir), _files(tmp_path / "again")
    assert sorted(first) == sorted(again)
    assert "features.parquet" in first and "activations/meta.json" in first
    for name in first:
        assert first[name] == again[name], name

    generate(tiny_synthetic_config(seed=1), tmp_path / "other")
    other = _files(tmp_path / "other")
    for name in ("features.parquet", "activations/shard-00000.parquet", "heldout/shard-00000.parquet"):
        assert other[name] != first[name], name


def test_generate_layout_and_chunking(tmp_path):
    cfg = tiny_synthetic_config(n_samples=1000, n_heldout=300, shard_size=256)
    generate(cfg, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["activations", "features.parquet", "heldout"]
    train = ActivationStore.open(tmp_path / "activations")
    assert [p.name for p in train.shards] == [f"shard-{i:05d}.parquet" for i in range(4)]
    assert [pq.ParquetFile(p).metadata.num_rows for p in train.shards] == [256, 256, 256, 232]
    assert train.count == 1000 and train.d == cfg.d
    assert train.meta["count"] == 1000 and train.meta["n_shards"] == 4
    assert train.meta["d"] == cfg.d and train.meta["dtype"] == "float32"
    assert train.meta["probability"] == "constant" and train.meta["seed"] == cfg.seed
    heldout = ActivationStore.open(tmp_path / "heldout")
    assert heldout.count == 300 and len(heldout.shards) == 2
    x_train, x_held = train.read_all(), heldout.read_all()
    assert x_train.shape == (1000, cfg.d) and x_held.shape == (300, cfg.d)
    # Held-out rows come from a separate stream.
    assert not np.array_equal(x_train[:300], x_held)
    # Shards are not copies of each other (each chunk has its own random stream).
    assert not np.array_equal(x_train[:256], x_train[256:512])
    # No temporary names left behind.
    assert not [p for p in tmp_path.rglob(".*")]


def test_generated_data_matches_its_features(synthetic_dir, synthetic_store):
    cfg = tiny_synthetic_config()
    f_FD, p_F = read_features(synthetic_dir / "features.parquet")
    x = synthetic_store.read_all()
    # E[x] = sum_i p_i E[c] f_i, with E[c] = exp(sigma^2 / 2) for the log-normal.
    expected_D = (p_F * math.exp(cfg.lognormal_sigma ** 2 / 2)) @ f_FD
    np.testing.assert_allclose(x.mean(0), expected_D, atol=0.08)
    # A row is zero exactly when no feature fires: probability (1 - p)^F.
    zero_rows = (np.abs(x).sum(1) == 0).mean()
    assert zero_rows == pytest.approx((1 - p_F[0]) ** cfg.n_features, abs=0.02)


def test_features_parquet_contract(synthetic_dir):
    cfg = tiny_synthetic_config()
    table = pq.read_table(synthetic_dir / "features.parquet")
    assert table.column_names == ["feature", "p", "direction"]
    schema = table.schema
    assert pa.types.is_integer(schema.field("feature").type)
    assert pa.types.is_floating(schema.field("p").type)
    dtype = schema.field("direction").type
    assert pa.types.is_fixed_size_list(dtype)
    assert dtype.list_size == cfg.d and dtype.value_type == pa.float32()
    assert table.num_rows == cfg.n_features
    np.testing.assert_array_equal(table.column("feature").to_numpy(), np.arange(cfg.n_features))
    np.testing.assert_array_equal(table.column("p").to_numpy(), firing_probabilities(cfg))
    f_FD, p_F = read_features(synthetic_dir / "features.parquet")
    np.testing.assert_array_equal(f_FD, ground_truth_directions(cfg))
    np.testing.assert_allclose(np.linalg.norm(f_FD, axis=1), 1.0, atol=1e-6)


def test_float16_storage(tmp_path):
    generate(tiny_synthetic_config(dtype="float16", n_samples=300, n_heldout=10), tmp_path)
    store = ActivationStore.open(tmp_path / "activations")
    schema = pq.read_schema(store.shards[0])
    assert schema.field("act").type.value_type == pa.float16()
    assert store.meta["dtype"] == "float16"
    x = store.read_all()
    assert x.dtype == np.float32 and x.shape == (300, 16)
    x32 = tmp_path / "f32"
    generate(tiny_synthetic_config(n_samples=300, n_heldout=10), x32)
    np.testing.assert_allclose(x, ActivationStore.open(x32 / "activations").read_all(), rtol=2e-3, atol=2e-3)


def test_exactly_k_model_is_the_model_organism():
    """arXiv 2505.20254's organism: exactly k distinct active features per sample, magnitudes |N(0, 1)|."""
    cfg = SyntheticConfig(probability=ProbabilityModel("exactly_k", k=3), d=16, n_features=32)
    np.testing.assert_allclose(firing_probabilities(cfg), 3 / 32)
    from saesanity.data.synthetic import sample_exactly_k
    codes = sample_exactly_k(np.random.default_rng(0), 20_000, 32, 3)
    assert (codes.getnnz(axis=1) == 3).all()  # distinct: a repeated column would be summed into one entry
    assert (codes.data > 0).all()
    assert codes.data.mean() == pytest.approx(math.sqrt(2 / math.pi), rel=0.02)  # E|N(0,1)|
    per_feature = codes.getnnz(axis=0) / 20_000
    np.testing.assert_allclose(per_feature, 3 / 32, atol=0.01)
    x = sample_activations(np.random.default_rng(0), 100, ground_truth_directions(cfg), firing_probabilities(cfg), cfg)
    assert x.shape == (100, 16)


def test_exactly_k_config_checks():
    with pytest.raises(ValueError, match="probability.k"):
        SyntheticConfig(probability=ProbabilityModel("exactly_k", k=40), d=16, n_features=32)
    with pytest.raises(ValueError, match="kind"):
        ProbabilityModel("poisson")
