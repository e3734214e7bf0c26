"""Training to the convergence criterion (saesanity.train_ladder): the budget doubles until the held-out curve
flattens, and the SAE kept is bit for bit the fixed-budget run of its final budget."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from conftest import make_job
from saesanity.sae.io import read_training
from saesanity.sae.layout import CFG, WEIGHTS
from saesanity.train import train_sae
from saesanity.train_ladder import LADDER, train_until_converged


def test_a_curve_that_never_flattens_doubles_to_the_cap_and_keeps_the_last_run(tmp_path, synthetic_store,
                                                                                heldout_store):
    # converged_ev_gain 0: no curve is ever flat enough, so the ladder runs 1024, 2048 and 4096 samples.
    job = make_job("topk", n_samples=1024, curve_points=4, converged_ev_gain=0.0)
    ladder = train_until_converged([job], synthetic_store, [tmp_path / "ladder"], heldout_store, max_doublings=2)
    assert [r["tokens"] for r in ladder] == [1024, 2048, 4096]
    assert [r["converged"] for r in ladder] == [[False]] * 3
    cfg = json.loads((tmp_path / "ladder" / CFG).read_text())
    assert [r["tokens"] for r in cfg["metadata"][LADDER]] == [1024, 2048]  # the runs before the kept one
    assert read_training(tmp_path / "ladder")["tokens_seen"] == 4096
    train_sae(make_job("topk", n_samples=4096, curve_points=4, converged_ev_gain=0.0), synthetic_store,
              tmp_path / "fixed", heldout=heldout_store)
    fixed = load_file(tmp_path / "fixed" / WEIGHTS)
    for k, v in load_file(tmp_path / "ladder" / WEIGHTS).items():
        assert torch.equal(v, fixed[k]), k


def test_a_flat_curve_stops_at_the_first_budget(tmp_path, synthetic_store, heldout_store):
    job = make_job("topk", n_samples=1024, curve_points=4, converged_ev_gain=1.0)
    ladder = train_until_converged([job], synthetic_store, [tmp_path / "sae"], heldout_store, max_doublings=3)
    assert [r["tokens"] for r in ladder] == [1024] and ladder[0]["converged"] == [True]
    assert json.loads((tmp_path / "sae" / CFG).read_text())["metadata"][LADDER] == []


def test_without_a_curve_there_is_no_convergence_to_train_to(tmp_path, synthetic_store, heldout_store):
    with pytest.raises(ValueError, match="curve_points must be > 0"):
        train_until_converged([make_job("topk", curve_points=0)], synthetic_store, [tmp_path / "sae"],
                              heldout_store, max_doublings=1)


def test_the_train_command_climbs_the_ladder_a_spec_asks_for(tmp_path, synthetic_dir):
    """A spec's until_converged (studies.until_converged puts it in each width member's) works as
    --until-converged does: here the curve never flattens, so 1024, then 2048 samples, and the kept run's."""
    import dataclasses
    from saesanity.cli import main
    spec = dataclasses.asdict(make_job("topk", n_samples=1024, curve_points=4, converged_ev_gain=0.0))
    spec["until_converged"] = 1
    main(["train", "--spec", json.dumps(spec), "--data", str(synthetic_dir / "activations"), "--heldout",
          str(synthetic_dir / "heldout"), "--source", "synthetic-constant", "--out", str(tmp_path / "sae")])
    assert read_training(tmp_path / "sae")["tokens_seen"] == 2048
    assert [r["tokens"] for r in json.loads((tmp_path / "sae" / CFG).read_text())["metadata"][LADDER]] == [1024]
