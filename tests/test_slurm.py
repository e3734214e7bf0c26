"""profiles/slurm on a real SLURM cluster: the test starts a one-node cluster (munged, slurmctld, slurmd) under a
temporary folder, runs part of the tiny preset through `snakemake --profile profiles/slurm`, and stops the
daemons by PID. Skipped, with the reason, where it cannot run: not root, or Debian's `slurm-wlm` and `munge`
missing (.ci/run installs them)."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from snakemake_runs import REPO, TINY, copy_workflow, sha

pytestmark = pytest.mark.workflow

SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
DAEMONS = ["munged", "slurmctld", "slurmd"]
CLIENTS = ["sbatch", "srun", "squeue", "scontrol", "sinfo"]
SAE = "results/saes/synthetic-tiny_variable/topk/trained/seed{seed}/sae_weights.safetensors"
# Part of the tiny preset, so that the run stays short: the data, two seeds of one architecture and their
# PW-MCC, which makes the controller order jobs by their dependencies (4 sbatch submissions).
TARGET = "results/metrics/synthetic-tiny_variable/topk/trained/consistency.json"
EXPECTED_JOBS = 4

SLURM_CONF = """\
ClusterName=saesanitytest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={munge_socket}
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/slurmctld.log
SlurmdLogFile={root}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# The node is whatever machine runs the test: trust these numbers instead of draining a smaller machine.
SlurmdParameters=config_overrides
ReturnToService=2
# squeue must see finished jobs until Snakemake has polled them (the plugin's documented requirement).
MinJobAge=300
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 RealMemory=64000 State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP
"""


def why_no_cluster() -> str | None:
    if os.geteuid() != 0:
        return "needs root to start munged, slurmctld and slurmd"
    missing = [b for b in DAEMONS + CLIENTS if shutil.which(b, path=SBIN_PATH) is None]
    if missing:
        return f"SLURM or MUNGE missing ({', '.join(missing)}): apt-get install slurm-wlm munge"
    if importlib.util.find_spec("snakemake_executor_plugin_slurm") is None:
        return "snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what: str, check, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in logs if p.exists())
    raise RuntimeError(f"SLURM test cluster: {what} not ready after {timeout} s\n{tails}")


@pytest.fixture(scope="module")
def slurm_env() -> Iterator[dict[str, str]]:
    """A running one-node cluster; yields the environment its client commands need (SLURM_CONF, PATH)."""
    reason = why_no_cluster()
    if reason:
        pytest.skip(reason)
    # Not under pytest's own temp folder: the munge user must be able to reach its socket and key.
    root = Path(tempfile.mkdtemp(prefix="saesanity-slurm-"))
    root.chmod(0o755)
    munge_dir = root / "munge"
    munge_dir.mkdir(mode=0o700)
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o400)
    for path in (munge_dir, key):
        shutil.chown(path, "munge", "munge")
    (root / "state").mkdir()
    (root / "spool").mkdir()
    conf = root / "slurm.conf"
    conf.write_text(SLURM_CONF.format(root=root, munge_socket=munge_dir / "munge.socket",
                                      ctld_port=free_port(), slurmd_port=free_port()))
    # A cluster's nodes read /etc/slurm/slurm.conf; this cluster's lives here, and the job step plugin strips
    # SLURM_* (SLURM_CONF too) from the environment of the `srun` it starts inside each job. So `srun` is a
    # shim that names the config and runs the real one.
    shim_dir = root / "bin"
    shim_dir.mkdir()
    shim = shim_dir / "srun"
    shim.write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {shutil.which("srun", path=SBIN_PATH)} "$@"\n')
    shim.chmod(0o755)
    # Jobs run `python -m saesanity` and Snakemake's job step: this interpreter's environment comes first.
    env = {**os.environ, "SLURM_CONF": str(conf),
           "PATH": os.pathsep.join([str(shim_dir), os.path.dirname(sys.executable), SBIN_PATH])}
    logs = [munge_dir / "munged.log", root / "slurmctld.log", root / "slurmd.log"]
    daemons: list[subprocess.Popen] = []
    try:
        daemons.append(subprocess.Popen(
            ["munged", "--foreground", "--force", f"--key-file={key}", f"--socket={munge_dir / 'munge.socket'}",
             f"--pid-file={munge_dir / 'munged.pid'}", f"--seed-file={munge_dir / 'munged.seed'}",
             f"--log-file={munge_dir / 'munged.log'}"], user="munge", group="munge", extra_groups=[], env=env,
            stderr=subprocess.DEVNULL))
        wait_for("munged", lambda: (munge_dir / "munge.socket").exists(), 30, logs)
        daemons.append(subprocess.Popen(["slurmctld", "-D", "-i", "-f", str(conf)], env=env,
                                        stderr=subprocess.DEVNULL))
        wait_for("slurmctld", lambda: subprocess.run(["scontrol", "ping"], env=env, capture_output=True,
                                                     text=True).stdout.count("UP") > 0, 60, logs)
        daemons.append(subprocess.Popen(["slurmd", "-D", "-N", "localhost", "-f", str(conf)], env=env,
                                        stderr=subprocess.DEVNULL))
        wait_for("node localhost", lambda: subprocess.run(["sinfo", "-h", "-o", "%T"], env=env, capture_output=True,
                                                          text=True).stdout.strip() == "idle", 60, logs)
        yield env
    finally:
        for proc in reversed(daemons):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)


def test_profile_runs_the_tiny_preset_through_sbatch(slurm_env, tiny_run, tmp_path, capsys):
    root = copy_workflow(tmp_path)
    proc = subprocess.run(
        ["snakemake", "--profile", "profiles/slurm", "--verbose",  # --verbose: the log shows each sbatch call
         # The test cluster has no accounts; poll soon, since the jobs take seconds.
         "--slurm-no-account", "--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs",
         TARGET, *TINY],
        cwd=root, env=slurm_env, capture_output=True, text=True, timeout=300)
    log = proc.stdout + proc.stderr
    submissions = [line.strip()[:400] for line in log.splitlines()
                   if "sbatch call:" in line or "submitted with SLURM" in line]
    with capsys.disabled():  # shown in the test run's log, pass or fail
        print("\nSLURM test cluster, Snakemake's submissions:\n" + "\n".join(submissions))
    assert proc.returncode == 0, log[-5000:]

    job_ids = re.findall(r"submitted with SLURM jobid (\d+)", log)
    assert len(job_ids) == EXPECTED_JOBS, log[-5000:]
    assert sum(line.startswith("sbatch call: sbatch ") for line in submissions) == EXPECTED_JOBS
    for job_id in job_ids:
        state = subprocess.run(["scontrol", "show", "job", job_id], env=slurm_env, capture_output=True, text=True)
        assert "JobState=COMPLETED" in state.stdout, state.stdout + state.stderr
    slurm_logs = list((root / "results/logs/slurm").rglob("*.log"))
    assert len(slurm_logs) == EXPECTED_JOBS

    # The cluster's jobs give the same bytes as the local run: same specs, same thread count.
    for seed in (0, 1):
        assert sha(root / SAE.format(seed=seed)) == sha(tiny_run / SAE.format(seed=seed))
    assert sha(root / TARGET) == sha(tiny_run / TARGET)


def test_profile_asks_for_gpus_only_when_told(monkeypatch):
    """The profile's GPU request for training and harvesting, evaluated as Snakemake evaluates a resource
    string: environment variables expanded, then a Python expression."""
    profile = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    for rule in ("train", "harvest", "train_lm"):
        expression = profile["set-resources"][rule]["gpu"]
        for value, gpus in ((None, 0), ("2", 2), ("", 0)):
            if value is None:
                monkeypatch.delenv("SAESANITY_GPUS", raising=False)
            else:
                monkeypatch.setenv("SAESANITY_GPUS", value)
            assert eval(os.path.expandvars(expression), {}) == gpus
