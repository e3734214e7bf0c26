"""What reruns when (docs/reproducibility.md), on the tiny preset after a full run, and what a killed job leaves."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from snakemake_runs import TINY, copy_workflow, job_counts, sha, snakemake

pytestmark = pytest.mark.workflow

SOURCE = "synthetic-tiny_variable"


def scheduled(tiny_run: Path, override: dict, tmp_path: Path) -> tuple[dict[str, int], list[dict[str, str]]]:
    """Dry run of the default target with `override` on top of the tiny preset: the job counts per rule and
    the wildcards of every scheduled job."""
    extra = tmp_path / "override.yaml"
    extra.write_text(yaml.safe_dump(override))
    out = snakemake(tiny_run, "-n", *TINY, str(extra)).stdout
    wildcards = [dict(kv.split("=", 1) for kv in m.split(", "))
                 for m in re.findall(r"^\s+wildcards: (.+)$", out, flags=re.MULTILINE)]
    return job_counts(out), wildcards


def test_finished_run_has_nothing_to_do(tiny_run):
    assert "Nothing to be done" in snakemake(tiny_run, "-n", *TINY).stdout


def test_a_new_seed_schedules_only_its_jobs_and_the_aggregates(tiny_run, tmp_path):
    counts, wildcards = scheduled(tiny_run, {"saes": {"synthetic": {"seeds": [0, 1, 2]}}}, tmp_path)
    # One trained SAE per architecture (4), its two evals, the PW-MCC of each architecture's trained SAEs
    # (now over 3 seeds) and its PW-MCC-vs-ground-truth validation, the tables, the figures.
    assert counts == {"train": 4, "eval_core": 4, "eval_recovery": 4, "consistency": 4, "validation_synthetic": 4,
                      "table_synthetic": 1, "table_validation": 1, "figures": 1, "all": 1, "total": 24}
    assert {w.get("seed", "2") for w in wildcards} == {"2"}
    assert {w.get("variant", "trained") for w in wildcards} == {"trained"}


def test_one_architectures_setting_reruns_only_that_architecture(tiny_run, tmp_path):
    counts, wildcards = scheduled(tiny_run, {"arch": {"topk": {"dead_after": 4096}}}, tmp_path)
    # The top-level arch options hold for both SAE groups. Synthetic: TopK's 2 trained seeds and 3
    # baselines, their evals, the PW-MCC of the trained seeds (baselines have one seed) and its validation.
    # Language model: TopK's 2 trained seeds and its baseline, their evals, PW-MCC, the training curves. The
    # convergence study's two TopK runs (their arch options start from the top level too), its table. The
    # tables, the figures.
    assert counts == {"train": 8, "eval_core": 8, "eval_recovery": 5, "eval_lm_loss": 3, "eval_probing": 3,
                      "eval_ravel": 3, "eval_autointerp": 3, "consistency": 2, "validation_synthetic": 1,
                      "convergence_train": 2, "convergence_eval": 2, "table_convergence": 1,
                      "table_synthetic": 1, "table_validation": 1, "table_lm": 1, "table2": 1,
                      "table_train_curves": 1, "figures": 1, "all": 1, "total": 48}
    assert {w["arch"] for w in wildcards} == {"topk"}


def test_the_soft_frozen_cone_reruns_only_soft_frozen_saes(tiny_run, tmp_path):
    counts, wildcards = scheduled(tiny_run, {"soft_frozen_tau": 0.7}, tmp_path)
    # One Soft-Frozen SAE per architecture in each group (synthetic and language model), their evals, the
    # tables, the figures.
    assert counts == {"train": 8, "eval_core": 8, "eval_recovery": 4, "eval_lm_loss": 4, "eval_probing": 4,
                      "eval_ravel": 4, "eval_autointerp": 4, "table_synthetic": 1, "table_lm": 1, "table2": 1,
                      "table_train_curves": 1, "figures": 1, "all": 1, "total": 42}
    assert {w["variant"] for w in wildcards} == {"soft_frozen_decoder-iso"}


def test_an_l0_sweep_adds_its_saes_and_leaves_the_headline_ones(tiny_run, tmp_path):
    override = {"saes": {"lm": {"l0_sweep": [2, 4]}}}
    counts, wildcards = scheduled(tiny_run, override, tmp_path)
    # The tiny LM target L0 is 4, so only L0 2 is new: every LM SAE again (4 architectures x (2 trained seeds
    # + 1 baseline)), its core evaluation, its spliced loss (a table2.csv column), table2.csv and the figures;
    # the headline SAEs, lm_core.csv and PW-MCC stay as they are.
    assert counts == {"train": 12, "eval_core": 12, "eval_lm_loss": 12, "eval_probing": 12, "eval_ravel": 12,
                      "eval_autointerp": 12, "table2": 1, "figures": 1, "all": 1, "total": 75}
    assert {w["arch"].partition("-l0_")[2] for w in wildcards if "arch" in w} == {"2"}

    # The per-SAE rules serve a sweep point unchanged: train and eval_core of one, in a copy.
    root = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    (root / "sweep.yaml").write_text(yaml.safe_dump(override))
    point = "toyworld-blocks.1.hook_resid_pre/topk-l0_2/trained/seed0"
    snakemake(root, f"results/metrics/{point}/core.json", *TINY, "sweep.yaml")
    core = json.loads((root / f"results/metrics/{point}/core.json").read_text())
    assert (core["arch"], core["variant"], core["target_l0"]) == ("topk", "trained", 2) and core["l0"] <= 2
    assert json.loads((root / f"results/saes/{point}/cfg.json").read_text())["k"] == 2


def test_a_deleted_output_reruns_its_job_and_dependants_with_the_same_bytes(tiny_run, tmp_path):
    root = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)  # copy2 keeps the mtimes
    sae_dir = root / f"results/saes/{SOURCE}/jumprelu/frozen_encoder-iso/seed0"
    before = {str(p.relative_to(sae_dir)): sha(p) for p in sae_dir.rglob("*") if p.is_file()}
    figures_before = {p.name: sha(p) for p in (root / "results/figures").iterdir()}
    (sae_dir / "sae_weights.safetensors").unlink()

    # The default target, no --forcerun: its job, its two evals, the table and the figures (one seed of a
    # baseline: no PW-MCC).
    dry = snakemake(root, "-n", *TINY).stdout
    assert job_counts(dry) == {"train": 1, "eval_core": 1, "eval_recovery": 1, "table_synthetic": 1,
                               "figures": 1, "all": 1, "total": 6}
    snakemake(root, *TINY)
    assert {str(p.relative_to(sae_dir)): sha(p) for p in sae_dir.rglob("*") if p.is_file()} == before
    assert {p.name: sha(p) for p in (root / "results/figures").iterdir()} == figures_before
    assert "Nothing to be done" in snakemake(root, "-n", *TINY).stdout


def synthetic_files(root: Path) -> dict[str, str]:
    folder = root / "results/synthetic/tiny_variable"
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_killed_job_leaves_nothing_finished_and_reruns_to_the_same_bytes(tmp_path):
    # Enough rows that the generator is still writing shards when it is killed (128 shards, about 2 s).
    override = [*TINY, "big.yaml"]
    target = "results/synthetic/tiny_variable/features.parquet"
    runs = {}
    for name in ("killed", "reference"):
        runs[name] = copy_workflow(tmp_path / name)
        (runs[name] / "big.yaml").write_text(yaml.safe_dump({"synthetic": {"n_samples": 1048576}}))
    snakemake(runs["reference"], target, *override)

    root = runs["killed"]
    out_dir = root / "results/synthetic/tiny_variable"
    # Its own process group, so that SIGKILL takes Snakemake and the job at once, as a lost node would.
    proc = subprocess.Popen(["snakemake", "--cores", "1", target, *override], cwd=root, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(out_dir.glob(".activations.tmp-*")):
        assert proc.poll() is None, "the job finished before it could be killed"
        assert time.monotonic() < deadline, "the synthetic job never started writing shards"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

    # Killed mid-way: shards were being written under a temporary name, and no output exists (the generator
    # writes features.parquet last).
    assert list(out_dir.glob(".activations.tmp-*"))
    assert not any((out_dir / name).exists() for name in ("features.parquet", "activations", "heldout"))
    # The killed Snakemake left its lock on the working directory: release it, as after a crash.
    snakemake(root, "--unlock", target, *override)
    snakemake(root, "--rerun-incomplete", target, *override)
    # The same bytes, and no temporaries left (rglob sees hidden names).
    assert synthetic_files(root) == synthetic_files(runs["reference"])
