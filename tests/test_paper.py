"""The paper's numbers are put beside ours only where the setting is the paper's."""

from __future__ import annotations

import dataclasses

from saesanity.config import ProbabilityModel, SyntheticConfig
from saesanity.paper import synthetic_paper_value, synthetic_setting_matches


def settings(**kw) -> dict:
    cfg = SyntheticConfig(probability=ProbabilityModel("constant", p=0.00625))
    return dataclasses.asdict(dataclasses.replace(cfg, **kw))


def test_paper_setting_is_recognised():
    assert synthetic_setting_matches(settings(), 3200, 20) == "constant"
    variable = ProbabilityModel("variable", log10_p_min=-5.5, log10_p_max=-1.2)
    assert synthetic_setting_matches(settings(probability=variable), 3200, 20) == "variable"
    # Sample counts and seeds are ours to choose: they do not change the setting.
    assert synthetic_setting_matches(settings(n_samples=123, seed=7), 3200, 20) == "constant"


def test_other_settings_get_no_paper_number():
    assert synthetic_setting_matches(settings(d=16), 3200, 20) is None
    assert synthetic_setting_matches(settings(), 64, 20) is None
    assert synthetic_setting_matches(settings(), 3200, 4) is None
    assert synthetic_setting_matches(settings(probability=ProbabilityModel("constant", p=0.01)), 3200, 20) is None
    assert synthetic_paper_value(None, "topk", "trained", "recovered_fraction") is None


def test_paper_values():
    assert synthetic_paper_value("constant", "topk", "trained", "recovered_fraction").value == 0.999
    assert synthetic_paper_value("variable", "batchtopk", "trained", "recovered_fraction").value == 297 / 3200
    # Baselines and architectures the paper does not report get none.
    assert synthetic_paper_value("constant", "topk", "frozen_decoder-iso", "recovered_fraction") is None
    assert synthetic_paper_value("constant", "relu", "trained", "recovered_fraction") is None
