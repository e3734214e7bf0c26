"""The workflow end to end: the tiny preset through Snakemake, in a copy of the repository's workflow files."""

from __future__ import annotations

import hashlib
import json
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
