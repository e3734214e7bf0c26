"""The workflow end to end: the tiny preset through Snakemake, in a copy of the repository's workflow files."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from snakemake_runs import TINY, copy_workflow, snakemake

pytestmark = pytest.mark.workflow


def test_tiny_preset_builds_every_output(tiny_run):
    preset = yaml.safe_load((tiny_run / "presets/tiny.yaml").read_text())
    group = preset["saes"]["synthetic"]
    figures = sorted(p.name for p in (tiny_run / "results/figures").iterdir())
    for stem in ("synthetic_ev_recovery", "synthetic_recovery_vs_p", "synthetic_pwmcc_vs_gtmcc", "pwmcc_validation"):
        assert f"{stem}.png" in figures and f"{stem}.pdf" in figures

    table = pd.read_csv(tiny_run / "results/tables/synthetic.csv")
    archs = {"relu", "topk", "batchtopk", "jumprelu"}
    assert set(table.arch) == archs
    assert set(table.variant) == {"trained", *group["baselines"]}
    per_seed = table[(table.variant == "trained") & (table.metric == "explained_variance") & (table.seed != "mean")]
    assert len(per_seed) == len(archs) * len(group["seeds"])
    pw = table[table.metric == "pw_mcc"]
    assert set(pw.arch) == archs and pw.value.between(-1, 1).all()
    assert set(table[table.seed == "all"].metric) == {"pw_mcc", "pw_mcc_gap", "shared_fraction"}

    # The validation: every checkpoint and the final SAE of each trained group, and the size sweep.
    points = pd.read_csv(tiny_run / "results/tables/validation.csv")
    sweep = preset["validation"]["sweep"]
    n_main = len(archs) * (len(group["train"]["checkpoints"]) + 1)
    n_sweep = len(sweep["d_sae"]) * len(sweep["architectures"]) * (len(sweep["train"]["checkpoints"]) + 1)
    assert len(points) == n_main + n_sweep
    assert set(points.distribution) == {"tiny_variable", *sweep["distributions"]}
    assert points[["gt_mcc", "pw_mcc"]].apply(lambda c: c.between(-1, 1)).all().all()
    corr = pd.read_csv(tiny_run / "results/tables/validation_correlation.csv")
    assert list(corr.scope) == ["all", *sorted(points.distribution.unique())]
    # Contracts: the SAELens layout and the synthetic store.
    sae_dir = tiny_run / "results/saes/synthetic-tiny_variable/topk/trained/seed0"
    cfg = json.loads((sae_dir / "cfg.json").read_text())
    assert cfg["architecture"] == "topk" and cfg["k"] == group["target_l0"]
    assert (sae_dir / "train_log.csv").read_text().startswith("step,")
    core = json.loads((tiny_run / "results/metrics/synthetic-tiny_variable/topk/trained/seed0/core.json").read_text())
    assert core["l0"] <= group["target_l0"]
    meta = json.loads((tiny_run / "results/synthetic/tiny_variable/activations/meta.json").read_text())
    assert meta["count"] == preset["synthetic"]["n_samples"] and meta["d"] == preset["synthetic"]["d"]
    for log in ("synthetic/tiny_variable.log", "train/synthetic-tiny_variable/relu/trained/seed0.log"):
        assert (tiny_run / "results/logs" / log).stat().st_size > 0


def test_report_holds_every_figure_and_table_with_its_caption(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(report), *TINY)
    html = report.read_text()
    for name in ("synthetic_ev_recovery.png", "synthetic_recovery_vs_p.png", "synthetic_pwmcc_vs_gtmcc.png",
                 "pwmcc_validation.png", "synthetic.csv", "synthetic_features.csv", "validation.csv",
                 "validation_correlation.csv"):
        assert f'"{name}"' in html, name
    # One caption per figure (picked by the figure's name) and per table, each citing the paper.
    for caption in ("Explained variance (Eq. 5 of arXiv 2602.14111, around the mean)",
                    "axis), per architecture, with the 0.8 recovery threshold.",
                    "PW-MCC (mean Hungarian-matched decoder cosine over pairs of seeds, arXiv 2505.20254)",
                    "The synthetic experiment as a tidy table",
                    "One row per (SAE, true feature)",
                    "one line per (architecture, dictionary",
                    "one row per point of the validation experiment",
                    "Pearson and Spearman correlation between PW-MCC"):
        assert caption in html, caption
    assert "no caption yet" not in html


def test_lint_passes(tmp_path):
    root = copy_workflow(tmp_path)
    proc = snakemake(root, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("override, key", [
    ({"saes": {"synthetic": {"train": {"batchsize": 64}}}}, "batchsize"),
    ({"saes": {"synthetic": {"train": {"lr": -1.0}}}}, "lr"),
    ({"synthetic": {"distributions": ["nonexistent"]}}, "nonexistent"),
    ({"saes": {"synthetic": {"architectures": ["relu", "gated"]}}}, "gated"),
    ({"validation": {"sweep": {"distributions": ["nothere"]}}}, "nothere"),
    ({"saes": {"synthetic": {"baseline_init": "sometimes"}}}, "sometimes"),
])
def test_bad_config_is_rejected_naming_the_key(tmp_path, override, key):
    root = copy_workflow(tmp_path)
    (root / "bad.yaml").write_text(yaml.safe_dump(override))
    proc = snakemake(root, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (root / "results").exists()
