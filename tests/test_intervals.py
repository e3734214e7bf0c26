"""The verdict's intervals (saesanity.sanity.intervals): items read from the evaluations' own records give back
their metric, and the bootstrap separates a planted margin from item noise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from saesanity.evals.autointerp.concepts import concept_f1
from saesanity.evals.probing.probes import summarise
from saesanity.sanity.intervals import Items, bootstrap_margins, items_of
from saesanity.sanity.verdict import BEATS, WITHIN, verdict_table


def test_probing_items_average_as_saebench_does():
    # Three classes of one data set and one of another: the metric averages within data sets first.
    tasks = [{"dataset": "a", "task": f"topic:{t}", "top_1": v, "top_5": 1.0, "dense": 1.0}
             for t, v in (("x", 0.5), ("y", 0.6), ("z", 0.7))]
    tasks.append({"dataset": "b", "task": "sentiment:pos", "top_1": 1.0, "top_5": 1.0, "dense": 1.0})
    record = summarise(tasks, [1, 5])
    items = items_of("sparse_probing_top1", record)
    assert len(items.values) == 4 and items.value() == pytest.approx(record["top_1"]) == pytest.approx(0.8)


def test_ev_items_are_the_blocks_of_rows_and_give_back_the_ev():
    record = {"explained_variance": 0.75, "ev_blocks": {"block_rows": 10, "explained": [1.0, 2.0], "total": [2.0, 2.0]}}
    items = items_of("explained_variance", record)
    assert items.ids == ("rows 0", "rows 10") and items.value() == pytest.approx(0.75)
    # A ratio's bootstrap draws blocks and recomputes the ratio: identical SAEs have a margin of exactly 0.
    boot, n = bootstrap_margins({"sae": items}, {"fd": [items, items]}, seed=0)
    assert n == 2 and boot["sae"] == (0.0, 0.0)


def test_concept_and_detection_items_give_back_their_metric():
    c_NK = np.eye(4, dtype=bool)[[0, 1, 2, 3, 0, 1]]
    record = concept_f1(["a", "b", "c", "d"], c_NK, np.array([0, 4, 1]), np.array([0, 0, 1]), d_sae=2, threshold=0.8)
    assert items_of("concepts_detected", record).value() == pytest.approx(record["fraction_detected"]) == 0.25
    latents = {"score": 0.7, "latents": [{"latent": 3, "accuracy": 0.6}, {"latent": 9, "accuracy": 0.8}]}
    detection = items_of("autointerp", latents)
    assert detection.ids is None and detection.value() == pytest.approx(0.7)
    assert items_of("explained_variance", {"explained_variance": 0.9}) is None


def test_ravel_items_are_the_edits_of_each_pair_and_part_and_give_back_the_score():
    from saesanity.evals.ravel.mdbm import pair_score
    hits = [{"cause_a": [1, 0, 1, 1], "cause_b": [1, 1], "iso_ab": [0, 0, 1], "iso_ba": [1]},
            {"cause_a": [0, 1], "cause_b": [1, 1, 1], "iso_ab": [1, 0], "iso_ba": [0, 0, 0, 1]}]
    pairs = [{"entity_type": "person", "attribute_a": "city", "attribute_b": b, "hits": h,
              "score": pair_score(*(np.mean(h[k]) for k in ("cause_a", "cause_b", "iso_ab", "iso_ba")))}
             for b, h in zip(("country", "job"), hits)]
    # A pair without a score (a part without examples) counts for nothing, in the score as in the items.
    pairs.append({"entity_type": "person", "attribute_a": "job", "attribute_b": "age", "score": None,
                  "hits": {"cause_a": [], "cause_b": [1], "iso_ab": [1], "iso_ba": [1]}})
    record = {"pairs": pairs, "score": (pairs[0]["score"] + pairs[1]["score"]) / 2}
    items = items_of("ravel", record)
    assert len(items.values) == 21 and len(set(items.groups)) == 8 and len(set(items.ids)) == 21
    assert items.value() == pytest.approx(record["score"])
    assert items_of("ravel", {"pairs": [], "score": None}) is None


def paired(values: np.ndarray) -> Items:
    return Items(tuple(f"c{i}" for i in range(len(values))), values, ("all",) * len(values))


def test_a_paired_margin_is_resolved_where_item_noise_is_large():
    rng = np.random.default_rng(0)
    base = rng.uniform(0, 1, 200)  # items differ a lot from each other ...
    sae = paired(base + 0.02)  # ... but the SAE beats the baseline on every one by 0.02
    baselines = {"fd": [paired(base), paired(base - 0.01)]}
    boot, n = bootstrap_margins({"sae": sae}, baselines, seed=1)
    lo, hi = boot["sae"]
    assert n == 200 and 0 < lo <= 0.025 <= hi < 0.03  # margin 0.02 - mean(0, -0.01) = 0.025
    # Unpaired (each SAE its own items), the same values cannot tell the margin from the items' spread.
    unpaired = {k: Items(None, i.values, i.groups) for k, i in {"sae": sae}.items()}
    boot_u, _ = bootstrap_margins(unpaired, {"fd": [Items(None, i.values, i.groups) for i in baselines["fd"]]}, 1)
    assert boot_u["sae"][0] < 0 < boot_u["sae"][1]
    assert bootstrap_margins({"sae": sae}, baselines, seed=1) == (boot, n)  # same draws, same bytes
    other = Items(tuple(f"d{i}" for i in range(200)), base, ("all",) * 200)
    assert bootstrap_margins({"sae": other}, baselines, seed=1) == ({}, 0)  # no item in common: no interval


def test_the_verdict_uses_the_interval_widened_by_the_spread():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.5, 60)

    def rows(role: str, seed: int, values: np.ndarray) -> dict:
        items = Items(None, values, ("all",) * len(values))
        return {"role": role, "seed": seed, "metric": "autointerp", "value": items.value(), "items": items}
    # The SAE's mean is 0.1 above the baselines', more than their spread (0.01), but its 60 latents scatter by
    # 0.5: the bootstrap interval includes zero, where the spread alone would have said "beats".
    scores = pd.DataFrame([rows("sae", 0, 0.6 + noise), rows("fd", 0, 0.5 + noise[::-1]),
                           rows("fd", 1, 0.49 + noise[::-1])])
    row = verdict_table(scores).iloc[0]
    assert row.margin == pytest.approx(0.105) and row.spread == pytest.approx(0.01)
    assert row.n_items == 60 and row.level == 0.95
    assert row.margin_low < 0 < row.margin_high and row.verdict == WITHIN
    assert verdict_table(scores.assign(items=None)).iloc[0].verdict == BEATS


def test_the_interval_does_not_depend_on_the_order_of_the_records():
    rng = np.random.default_rng(3)

    def row(role: str, seed: int, shift: float) -> dict:
        items = Items(None, rng.normal(shift, 0.3, 40), ("all",) * 40)
        return {"role": role, "seed": seed, "metric": "autointerp", "value": items.value(), "items": items}
    scores = pd.DataFrame([row("sae", 0, 0.6), row("untrained", 0, 0.4), row("concept_dictionary", 0, 0.9),
                           row("fd", 0, 0.5), row("fd", 1, 0.5)])
    pd.testing.assert_frame_equal(verdict_table(scores), verdict_table(scores.iloc[::-1].reset_index(drop=True)))
