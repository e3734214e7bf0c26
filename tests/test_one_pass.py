"""Several SAEs trained in one pass over the data (saes.<group>.one_pass): the same bytes as one by one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from conftest import make_job
from snakemake_runs import TINY, job_counts, sha, snakemake

from saesanity.train import train_sae, train_saes

# Every architecture, and every variant kind (frozen decoder and encoder, Soft-Frozen cone), with checkpoints.
JOBS = [("topk", "trained"), ("topk", "frozen_decoder-iso"), ("batchtopk", "soft_frozen_decoder-iso"),
        ("jumprelu", "frozen_encoder-cov"), ("relu", "trained")]


def folder_bytes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): sha(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_one_pass_gives_the_bytes_of_one_by_one(tmp_path, synthetic_store):
    jobs = [make_job(arch, variant, seed=3, checkpoints=(256, 512)) for arch, variant in JOBS]
    together = [tmp_path / "together" / f"{j.sae.arch}-{j.sae.variant}" for j in jobs]
    alone = [tmp_path / "alone" / f"{j.sae.arch}-{j.sae.variant}" for j in jobs]
    for d in together + alone:
        d.mkdir(parents=True)
    train_saes(jobs, synthetic_store, together, metadata={"source": "s"})
    for job, out in zip(jobs, alone):
        train_sae(job, synthetic_store, out, metadata={"source": "s"})
    for a, b in zip(together, alone):
        files = folder_bytes(a)
        assert {"cfg.json", "sae_weights.safetensors", "train_log.csv", "checkpoints/256/cfg.json"} <= set(files)
        assert files == folder_bytes(b), a.name


@pytest.mark.parametrize("other", [dict(seed=1), dict(batch_size=32), dict(shuffle_buffer=512)])
def test_one_pass_refuses_saes_with_another_data_order(synthetic_store, other):
    with pytest.raises(ValueError, match="cannot share a pass"):
        train_saes([make_job("topk"), make_job("relu", **other)], synthetic_store)


@pytest.mark.workflow
def test_one_pass_rules_give_the_bytes_of_the_train_rule(tiny_run, tmp_path):
    """The tiny preset's SAEs retrained in passes (synthetic: one job per seed; language model: one per
    architecture and seed) in a copy of the finished run: same files, same bytes; reruns scoped to passes."""
    root = shutil.copytree(tiny_run, tmp_path / "run", symlinks=True)
    (root / "one_pass.yaml").write_text(yaml.safe_dump({"saes": {"synthetic": {"one_pass": "seed"},
                                                                 "lm": {"one_pass": "arch_seed"}}}))
    config = [*TINY, "one_pass.yaml"]
    saes = root / "results/saes"
    before = folder_bytes(saes)
    shutil.rmtree(saes)
    targets = sorted(f"results/saes/{name}" for name in before
                     if name.endswith("train_log.csv") and "checkpoints" not in name)
    counts = job_counts(snakemake(root, "-n", *targets, *config).stdout)
    # Synthetic: seeds 0 (4 architectures x 4 variants) and 1; language model: 4 architectures x 2 seeds.
    assert counts.pop("total") == len(counts) == 2 + 8
    assert all(rule.startswith("train_pass_") for rule in counts)
    snakemake(root, *targets, *config)
    assert folder_bytes(saes) == before

    # A setting of some SAEs of a pass reruns the whole pass (and the dependants of its SAEs), no other.
    tau = root / "tau.yaml"
    tau.write_text(yaml.safe_dump({"soft_frozen_tau": 0.7}))
    counts = job_counts(snakemake(root, "-n", *targets, *config, str(tau)).stdout)
    assert counts == {"train_pass_synthetic_tiny_variable_seed0": 1, **{
        f"train_pass_toyworld_blocks_1_hook_resid_pre_{arch}_seed0": 1
        for arch in ("relu", "topk", "batchtopk", "jumprelu")}, "total": 5}
