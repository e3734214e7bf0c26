"""The workflow end to end: the tiny preset through Snakemake, in a copy of the repository's workflow files."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "presets", "envs"]
TINY = ["--configfile", "presets/tiny.yaml"]

pytestmark = pytest.mark.workflow


def snakemake(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def copy_workflow(dest: Path) -> Path:
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}."""
    table = dry_run_stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {parts[0]: int(parts[1]) for line in table.splitlines()
            if len(parts := line.split()) == 2 and parts[1].isdigit()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    root = copy_workflow(tmp_path_factory.mktemp("tiny"))
    snakemake(root, *TINY)
    return root


def test_tiny_preset_builds_every_output(tiny_run):
    preset = yaml.safe_load((tiny_run / "presets/tiny.yaml").read_text())
    group = preset["saes"]["synthetic"]
    figures = sorted(p.name for p in (tiny_run / "results/figures").iterdir())
    for stem in ("synthetic_ev_recovery", "synthetic_recovery_vs_p", "synthetic_pwmcc_vs_gtmcc", "lm_core"):
        assert f"{stem}.png" in figures and f"{stem}.pdf" in figures

    table = pd.read_csv(tiny_run / "results/tables/synthetic.csv")
    archs = {"relu", "topk", "batchtopk", "jumprelu"}
    assert set(table.arch) == archs
    assert set(table.variant) == {"trained", *group["baselines"]}
    per_seed = table[(table.variant == "trained") & (table.metric == "explained_variance") & (table.seed != "mean")]
    assert len(per_seed) == len(archs) * len(group["seeds"])
    pw = table[table.metric == "pw_mcc"]
    assert set(pw.arch) == archs and pw.value.between(-1, 1).all()

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
    # The paper's Table 2 EV sits beside ours where the paper has the (arch, variant).
    paper = table[(table.metric == "explained_variance") & table.paper_value.notna()]
    assert set(zip(paper.arch, paper.variant)) >= {("batchtopk", "trained"), ("jumprelu", "trained")}
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


def test_finished_run_has_nothing_to_do(tiny_run):
    out = snakemake(tiny_run, *TINY, "-n").stdout
    assert "Nothing to be done" in out


def test_rerun_of_one_sae_gives_the_same_bytes(tiny_run):
    rel = "results/saes/synthetic-tiny_variable/jumprelu/frozen_encoder-iso/seed0/sae_weights.safetensors"
    weights = tiny_run / rel
    before = sha(weights)
    figures_before = {p.name: sha(p) for p in (tiny_run / "results/figures").iterdir()}
    weights.unlink()
    # (--configfile takes several values, so it goes last.)
    dry = snakemake(tiny_run, "-n", "--forcerun", rel, *TINY).stdout
    # Only this SAE and what depends on it: its train job, its two evals, the table and the figures.
    assert job_counts(dry) == {"train": 1, "eval_core": 1, "eval_recovery": 1, "table_synthetic": 1,
                               "figures": 1, "all": 1, "total": 6}
    snakemake(tiny_run, "--forcerun", rel, *TINY)
    assert sha(weights) == before
    # The tables and figures rebuilt downstream are the same bytes too.
    assert {p.name: sha(p) for p in (tiny_run / "results/figures").iterdir()} == figures_before
    assert "Nothing to be done" in snakemake(tiny_run, "-n", *TINY).stdout


def test_lint_passes(tmp_path):
    root = copy_workflow(tmp_path)
    proc = snakemake(root, "--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("preset", ["pythia-70m", "gemma-2-2b"])
def test_real_model_presets_are_valid(tmp_path, preset):
    root = copy_workflow(tmp_path)
    out = snakemake(root, "-n", "--configfile", f"presets/{preset}.yaml").stdout
    counts = job_counts(out)
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
    proc = subprocess.run(["snakemake", "--cores", "2", "results/tables/lm_core.csv", "--configfile",
                           "presets/pythia-70m.yaml", "presets/tiny.yaml", "local.yaml"],
                          cwd=root, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
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
    ({"lm": {"hooks": ["blocks.1.hook-resid"]}}, "blocks.1.hook-resid"),
    ({"lm": {"kind": "hf"}}, "lm.hf_model"),
    ({"toyworld": {"model": {"d_modle": 64}}}, "d_modle"),
])
def test_bad_config_is_rejected_naming_the_key(tmp_path, override, key):
    root = copy_workflow(tmp_path)
    (root / "bad.yaml").write_text(yaml.safe_dump(override))
    proc = snakemake(root, "-n", "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert key in proc.stdout + proc.stderr
    assert not (root / "results").exists()
