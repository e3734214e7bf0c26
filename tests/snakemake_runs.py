"""Helpers shared by the end-to-end tests: run Snakemake in a copy of the repository's workflow files."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "presets", "envs", "profiles"]
# --configfile takes several values, so it goes last on a command line.
TINY = ["--configfile", "presets/toyworld.yaml", "presets/tiny.yaml"]


def snakemake(cwd: Path, *args: str, check: bool = True, **kw) -> subprocess.CompletedProcess:
    proc = subprocess.run(["snakemake", "--cores", "2", *args], cwd=cwd, capture_output=True, text=True, **kw)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(src, dest / name)
    return dest


def job_counts(dry_run_stdout: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run, as {rule: count}; {} when there is nothing to do."""
    if "Job stats:" not in dry_run_stdout:
        assert "Nothing to be done" in dry_run_stdout, dry_run_stdout[-3000:]
        return {}
    table = dry_run_stdout.split("Job stats:", 1)[1].split("\n\n", 1)[0]
    return {parts[0]: int(parts[1]) for line in table.splitlines()
            if len(parts := line.split()) == 2 and parts[1].isdigit()}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
