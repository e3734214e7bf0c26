"""The saturation mark: a metric on which the trained SAE and every baseline sit at the ceiling."""

from __future__ import annotations

import pandas as pd

from saesanity.tables.saturation import SATURATED_NOTE, with_saturation

KEY = ["source", "arch", "variant"]
VARIANTS = ["trained", "frozen_decoder-iso", "soft_frozen_decoder-iso"]


def planted(values: dict[str, float], metric: str = "ce_loss_recovered") -> pd.DataFrame:
    rows = []
    for variant, v in values.items():
        rows += [{"source": "s", "arch": "topk", "variant": variant, "seed": seed, "metric": metric, "value": v}
                 for seed in ("0", "mean")]
    return pd.DataFrame(rows)


def test_all_within_001_of_one_is_saturated():
    table = with_saturation(planted(dict(zip(VARIANTS, [0.999, 0.995, 0.991]))), KEY)
    assert table.saturated.all() and (table.saturation_note == SATURATED_NOTE).all()


def test_one_row_at_098_is_not():
    table = with_saturation(planted(dict(zip(VARIANTS, [0.999, 0.98, 0.995]))), KEY)
    assert not table.saturated.any() and (table.saturation_note == "").all()


def test_no_baseline_no_maximum_or_a_missing_value_is_not():
    assert not with_saturation(planted({"trained": 1.0}), KEY).saturated.any()
    assert not with_saturation(planted(dict(zip(VARIANTS, [1.0] * 3)), metric="l0"), KEY).saturated.any()
    assert not with_saturation(planted(dict(zip(VARIANTS, [1.0, float("nan"), 1.0]))), KEY).saturated.any()


def test_groups_are_apart():
    """Per (source, arch, metric): a saturated architecture does not mark another."""
    a = planted(dict(zip(VARIANTS, [1.0, 0.999, 0.995])))
    b = planted(dict(zip(VARIANTS, [0.9, 0.5, 0.7]))).assign(arch="jumprelu")
    table = with_saturation(pd.concat([a, b], ignore_index=True), KEY)
    assert table[table.arch == "topk"].saturated.all() and not table[table.arch == "jumprelu"].saturated.any()
