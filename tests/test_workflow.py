"""The workflow end to end: the tiny preset through Snakemake, in a copy of the repository's workflow files."""

from __future__ import annotations

import json
import re
import os

import pandas as pd
import pytest
import yaml
from snakemake_runs import REPO, TINY, copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow


def test_tiny_preset_builds_every_output(tiny_run):
    preset = yaml.safe_load((tiny_run / "presets/tiny.yaml").read_text())
    group = preset["saes"]["synthetic"]
    figures = sorted(p.name for p in (tiny_run / "results/figures").iterdir())
    for stem in ("synthetic_ev_recovery", "synthetic_recovery_vs_p", "synthetic_pwmcc_vs_gtmcc", "pwmcc_validation",
                 "lm_core", "table2", "lazy_training"):
        assert f"{stem}.png" in figures and f"{stem}.pdf" in figures
    # Every language-model SAE's training curve, from its init (cosine 1) to the end of training.
    curves = pd.read_csv(tiny_run / "results/tables/train_curves.csv")
    assert list(curves.columns) == ["source", "arch", "variant", "seed", "tokens", "heldout_ev", "init_cos_mean",
                                    "init_cos_min"]
    assert (curves[curves.tokens == 0].init_cos_mean.round(5) == 1).all() and curves.tokens.max() > 0
    lm_core = pd.read_csv(tiny_run / "results/tables/lm_core.csv")
    assert {"tokens_seen", "ev_gain_last_quarter", "converged"} <= set(lm_core.metric)
    assert {"saturated", "saturation_note"} <= set(lm_core.columns)
    assert "table2_l0_sweep.png" not in figures  # the tiny preset has no L0 sweep

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

    # The convergence study: every checkpoint and the end of each run (base and the lr axis), and its figures.
    study = preset["convergence"]
    conv = pd.read_csv(tiny_run / "results/tables/convergence.csv")
    assert set(conv.run) == {"base", *(f"lr-{v}" for v in study["axes"]["lr"])}
    assert (conv.groupby("run").size() == study["n_checkpoints"] + 1).all() and conv.groupby("run").final.sum().eq(1).all()
    assert conv.recovered_fraction.between(0, 1).all() and conv.explained_variance.le(1).all()
    assert {"synthetic_convergence.png", "synthetic_convergence_axes.png"} <= set(figures)


def test_report_holds_every_figure_and_table_with_its_caption(tiny_run, tmp_path):
    report = tmp_path / "report.html"
    snakemake(tiny_run, "--report", str(report), *TINY)
    html = report.read_text()
    for name in ("synthetic_ev_recovery.png", "synthetic_recovery_vs_p.png", "synthetic_pwmcc_vs_gtmcc.png",
                 "pwmcc_validation.png", "lm_core.png", "table2.png", "synthetic.csv", "synthetic_features.csv",
                 "validation.csv", "validation_correlation.csv", "lm_core.csv", "lm_model.csv", "table2.csv"):
        assert f'"{name}"' in html, name
    # One caption per figure (picked by the figure's name) and per table, each citing the paper.
    for caption in ("Explained variance (Eq. 5 of arXiv 2602.14111, around the mean)",
                    "axis), per architecture, with the 0.8 recovery threshold.",
                    "PW-MCC (mean Hungarian-matched decoder cosine over pairs of seeds, arXiv 2505.20254)",
                    "The synthetic experiment as a tidy table",
                    "One row per (SAE, true feature)",
                    "one line per (architecture, dictionary",
                    "one row per point of the validation experiment",
                    "Pearson and Spearman correlation between PW-MCC",
                    "SAEs on the language model's activations",
                    "The toy-world language model itself",
                    "Table 2 of arXiv 2602.14111 rebuilt on our language-model SAEs",
                    "Table 2 of arXiv 2602.14111 as bars"):
        assert caption in html, caption
    assert "no caption yet" not in html


def test_tiny_preset_builds_the_language_model_part(tiny_run):
    preset = yaml.safe_load((tiny_run / "presets/tiny.yaml").read_text())
    group = preset["saes"]["lm"]
    source = "toyworld-blocks.1.hook_resid_pre"
    table = pd.read_csv(tiny_run / "results/tables/lm_core.csv")
    assert set(table.source) == {source}
    assert set(table.arch) == {"relu", "topk", "batchtopk", "jumprelu"}
    assert set(table.variant) == {"trained", *group["baselines"]}
    means = table[table.seed == "mean"].pivot_table(index=["arch", "variant"], columns="metric", values="value")
    assert means.ce_loss_recovered.between(-5, 1.0001).all() and means.explained_variance.le(1).all()
    assert (means.ce_zero > means.ce_clean).all()  # the trained toy model needs its residual stream
    # PW-MCC across seeds for the variants with two or more seeds: here the trained SAEs.
    pw = table[table.metric == "pw_mcc"]
    assert set(zip(pw.arch, pw.variant)) == {(a, "trained") for a in table.arch.unique()}
    assert (pw.seed == "all").all() and (pw.n_seeds == 2).all() and pw.value.between(-1, 1).all()
    # The paper's Table 2 EV sits beside ours where the paper has the (arch, variant).
    paper = table[(table.metric == "explained_variance") & table.paper_value.notna()]
    assert set(zip(paper.arch, paper.variant)) >= {("batchtopk", "trained"), ("jumprelu", "trained")}
    # table2.csv: the same SAEs, EV and L0 equal to lm_core.csv's, the paper's Table 2 beside the means.
    t2 = pd.read_csv(tiny_run / "results/tables/table2.csv")
    saes = t2[t2.arch != "reference"]  # the concept check's reference dictionaries are not SAEs
    t2_means = saes[saes.seed == "mean"].pivot_table(index=["arch", "variant"], columns="metric", values="value")
    pd.testing.assert_series_equal(t2_means.explained_variance, means.explained_variance)
    assert (saes.target_l0 == group["target_l0"]).all() and t2.headline.all()
    reference = t2[t2.arch == "reference"]
    assert set(reference.variant) == {"ideal", "random"} and set(reference.metric) >= {"concepts_detected"}
    assert t2[(t2.arch == "batchtopk") & (t2.variant == "trained") & (t2.metric == "explained_variance")
              & (t2.seed == "mean")].paper_value.tolist() == [0.852]
    model = pd.read_csv(tiny_run / "results/tables/lm_model.csv")
    assert {"heldout_documents", "attribute_prompts"} == set(model.what)
    assert set(model.template_split.dropna()) == {"train", "heldout"}

    lm = preset["lm"]["harvest"]
    for split, n in (("", lm["n_tokens"]), ("heldout/", lm["n_heldout_tokens"])):
        meta = json.loads((tiny_run / f"results/activations/toyworld/{split}blocks.1.hook_resid_pre/meta.json").read_text())
        assert meta["d"] == preset["toyworld"]["model"]["d_model"] and meta["count"] >= n
        assert meta["hook"] == "blocks.1.hook_resid_pre" and meta["bos_excluded"]
    cfg = json.loads((tiny_run / f"results/saes/{source}/topk/trained/seed0/cfg.json").read_text())
    assert cfg["d_in"] == preset["toyworld"]["model"]["d_model"] and cfg["metadata"]["source"] == source
    for name in ("model.safetensors", "config.json", "tokenizer/tokenizer.json", "train_log.csv"):
        assert (tiny_run / "results/models/toyworld" / name).is_file()

    # Sparse probing: one probing.json per LM SAE, every class of topic (8), sentiment (2) and register (2).
    ks = [1, 2, 5]
    for sae_dir in (tiny_run / "results/saes" / source).glob("*/*/seed*"):
        probing = json.loads((tiny_run / "results/metrics" / sae_dir.relative_to(tiny_run / "results/saes")
                              / "probing.json").read_text())
        assert probing["source"] == source and probing["n_tasks"] == 12 == len(probing["tasks"])
        assert all(0 <= probing[f"top_{k}"] <= 1 for k in ks) and 0.5 < probing["dense"] <= 1
        assert {t["task"].split(":")[0] for t in probing["tasks"]} == {"topic", "sentiment", "register"}
        assert all(len(t["top_latents"]) == max(ks) for t in probing["tasks"])


def test_lint_passes(tmp_path):
    root = copy_workflow(tmp_path)
    proc = snakemake(root, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


PRESETS = sorted(p.stem for p in (REPO / "presets").glob("*.yaml"))


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_runs_as_its_header_says(tmp_path, preset):
    """Each preset's header gives `snakemake --cores all --configfile presets/<name>.yaml`: its config checks
    pass and it plans jobs, on a fresh checkout."""
    root = copy_workflow(tmp_path)
    header = (root / "presets" / f"{preset}.yaml").read_text()
    # The files the header names after --configfile (a toy-world preset goes on top of presets/toyworld.yaml).
    named = re.search(r"--configfile ((?:presets/[\w.-]+\.yaml ?)+)", header)
    assert named and f"presets/{preset}.yaml" in named.group(1).split(), "the header must say how to run it"
    counts = job_counts(snakemake(root, "-n", "--configfile", *named.group(1).split()).stdout)
    assert counts.get("all") == 1 and sum(counts.values()) > 1
    if preset in ("pythia-70m", "gemma-2-2b"):
        assert counts["harvest"] == 1 and "train_lm" not in counts and counts["eval_lm_loss"] > 0


def test_hf_preset_runs_offline_on_a_local_checkpoint(tmp_path, hf_checkpoint, toy_corpus):
    """The pythia-70m preset with its model and text replaced by a local tiny checkpoint and a local JSON
    lines file, sized down by presets/tiny.yaml: the Hugging Face path through Snakemake, offline."""
    from saesanity.data.toyworld import read_documents
    root = copy_workflow(tmp_path)
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for t in read_documents(toy_corpus)["text"].to_pylist()))
    override = {"lm": {"name": "tiny-neox", "hf_model": str(hf_checkpoint), "d_model": 32, "n_ctx": None,
                       "hooks": ["blocks.1.hook_resid_pre"], "dtype": "float32",
                       "text": {"path": "json", "data_files": [str(docs)]}},
                "saes": {"lm": {"architectures": ["topk"], "baselines": [], "d_sae": 64,
                                "arch": {"topk": {"dead_after": 8192}}}}}
    (root / "local.yaml").write_text(yaml.safe_dump(override))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    snakemake(root, "results/tables/lm_core.csv", "--configfile", "presets/pythia-70m.yaml", "presets/tiny.yaml",
              "local.yaml", env=env)
    table = pd.read_csv(root / "results/tables/lm_core.csv")
    assert set(table.source) == {"tiny-neox-blocks.1.hook_resid_pre"} and set(table.arch) == {"topk"}
    meta = json.loads((root / "results/activations/tiny-neox/blocks.1.hook_resid_pre/meta.json").read_text())
    assert meta["d"] == 32 and meta["text"]["path"] == "json"
    assert not (root / "results/models").exists()  # nothing trained: the model came from its folder


@pytest.mark.parametrize("override, key", [
    ({"saes": {"synthetic": {"train": {"batchsize": 64}}}}, "batchsize"),
    ({"saes": {"synthetic": {"train": {"lr": -1.0}}}}, "lr"),
    ({"synthetic": {"distributions": ["nonexistent"]}}, "nonexistent"),
    ({"saes": {"synthetic": {"architectures": ["relu", "gated"]}}}, "gated"),
    ({"validation": {"sweep": {"distributions": ["nothere"]}}}, "nothere"),
    ({"saes": {"synthetic": {"baseline_init": "sometimes"}}}, "sometimes"),
    ({"lm": {"hooks": ["blocks.1.hook-resid"]}}, "blocks.1.hook-resid"),
    ({"lm": {"packaged": None}}, "lm.hf_model"),
    ({"toyworld": {"model": {"d_modle": 64}}}, "d_modle"),
])
def test_bad_config_is_rejected_naming_the_key(tmp_path, override, key):
    root = copy_workflow(tmp_path)
    (root / "bad.yaml").write_text(yaml.safe_dump(override))
    proc = snakemake(root, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (root / "results").exists()
