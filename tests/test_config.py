"""Typed configs: unknown, missing and out-of-range keys are errors that name the key."""

from __future__ import annotations

import json

import pytest

from saesanity.config import (ConfigError, ProbabilityModel, SAEConfig, SyntheticConfig, TrainConfig, TrainJob,
                              from_dict, to_json)

SAE = {"arch": "batchtopk", "d_in": 16, "d_sae": 64, "target_l0": 4}


def test_builds_nested_dataclasses():
    job = from_dict(TrainJob, {"sae": {**SAE, "variant": "frozen_decoder-cov", "seed": 3},
                               "train": {"lr": 1e-3, "betas": [0.9, 0.99]}})
    assert isinstance(job.sae, SAEConfig) and isinstance(job.train, TrainConfig)
    assert job.sae.variant_kind == "frozen_decoder" and job.sae.init == "cov" and job.sae.seed == 3
    assert job.train.betas == (0.9, 0.99) and job.train.batch_size == 4096
    syn = from_dict(SyntheticConfig, {"probability": {"kind": "variable"}, "n_samples": 10})
    assert isinstance(syn.probability, ProbabilityModel) and syn.probability.kind == "variable"
    assert SAEConfig(**SAE).init == "iso" and SAEConfig(**SAE).variant_kind == "trained"


def test_to_json_round_trip():
    job = from_dict(TrainJob, {"sae": SAE, "train": {"n_samples": 100}})
    text = to_json(job)
    assert list(json.loads(text)) == ["sae", "train", "until_converged"]  # sorted keys
    assert from_dict(TrainJob, json.loads(text)) == job
    assert to_json(from_dict(TrainJob, json.loads(text))) == text


def test_unknown_key_named():
    with pytest.raises(ConfigError, match="batchsize"):
        from_dict(TrainConfig, {"batchsize": 64})
    with pytest.raises(ConfigError, match=r"sae.*'colour'"):
        from_dict(TrainJob, {"sae": {**SAE, "colour": "red"}, "train": {}})
    with pytest.raises(ConfigError, match="probability.*'q'"):
        from_dict(SyntheticConfig, {"probability": {"kind": "constant", "q": 1}})


def test_missing_required_key_named():
    sae = dict(SAE)
    del sae["d_sae"]
    with pytest.raises(ConfigError, match="d_sae"):
        from_dict(SAEConfig, sae)
    with pytest.raises(ConfigError, match="kind"):
        from_dict(SyntheticConfig, {"probability": {}})
    with pytest.raises(ConfigError, match="train"):
        from_dict(TrainJob, {"sae": SAE})


def test_not_a_mapping():
    with pytest.raises(ConfigError, match="sae.*mapping"):
        from_dict(TrainJob, {"sae": [1, 2], "train": {}})


@pytest.mark.parametrize("cls, data, key", [
    (SAEConfig, {**SAE, "variant": "nonsense"}, "variant"),
    (SAEConfig, {**SAE, "target_l0": 0}, "target_l0"),
    (SAEConfig, {**SAE, "target_l0": 65}, "target_l0"),
    (SAEConfig, {**SAE, "d_sae": 0}, "d_sae"),
    (SAEConfig, {**SAE, "soft_frozen_tau": 1.0}, "soft_frozen_tau"),
    (TrainConfig, {"lr": -1e-4}, "lr"),
    (TrainConfig, {"lr": 0}, "lr"),
    (TrainConfig, {"batch_size": 0}, "batch_size"),
    (TrainConfig, {"n_samples": -5}, "n_samples"),
    (TrainConfig, {"lr_decay_fraction": 1.5}, "lr_decay_fraction"),
    (ProbabilityModel, {"kind": "uniform"}, "kind"),
    (ProbabilityModel, {"kind": "constant", "p": 0}, "p"),
    (ProbabilityModel, {"kind": "variable", "log10_p_min": -1, "log10_p_max": -2}, "log10_p_min"),
    (SyntheticConfig, {"probability": {"kind": "constant"}, "dtype": "float64"}, "dtype"),
    (SyntheticConfig, {"probability": {"kind": "constant"}, "shard_size": 0}, "shard_size"),
    (SyntheticConfig, {"probability": {"kind": "constant"}, "lognormal_sigma": -0.1}, "lognormal_sigma"),
])
def test_out_of_range_named(cls, data, key):
    with pytest.raises(ConfigError, match=key):
        from_dict(cls, data)


def test_nested_out_of_range():
    with pytest.raises(ConfigError, match="variant.*nonsense"):
        from_dict(TrainJob, {"sae": {**SAE, "variant": "nonsense"}, "train": {}})
    with pytest.raises(ConfigError, match="lr"):
        from_dict(TrainJob, {"sae": SAE, "train": {"lr": -1.0}})


def test_config_error_is_value_error():
    assert issubclass(ConfigError, ValueError)
