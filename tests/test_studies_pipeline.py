"""The width family of the studies (config `studies`, arXiv 2502.04878): its SAE folders, which member is the
headline SAE, the train spec of a member, the stitching pairs, and that the default target never builds it."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config, validate

from saesanity.pipeline import checks, jobs, specs, targets

REPO = Path(__file__).resolve().parents[1]
SOURCE = "toyworld-blocks.1.hook_resid_pre"


@pytest.fixture(scope="module")
def default_config() -> dict:
    # The studies run on the toy world (presets/toyworld.yaml over config.yaml, as snakemake merges them).
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    update_config(config, yaml.safe_load((REPO / "presets/toyworld.yaml").read_text()))
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    return config


def with_studies(config: dict, **study) -> dict:
    config = copy.deepcopy(config)
    config["studies"].update(study)
    return config


def test_members_are_tagged_with_their_width_and_sorted(default_config):
    config = with_studies(default_config, widths=[2048, 256, 1024])
    keys = jobs.width_keys(config, SOURCE, "trained")
    # studies.train (lr 3e-3) differs from saes.lm.train: the headline SAE is not the 1024 member.
    assert [k.arch_dir for k in keys] == ["batchtopk-w_256", "batchtopk-w_1024", "batchtopk-w_2048"]
    assert keys[0].path == f"{SOURCE}/batchtopk-w_256/trained/seed0"


def test_the_headline_sae_is_the_member_at_its_width_when_trained_alike(default_config):
    config = with_studies(default_config, widths=[512, 1024], train={})
    assert [k.arch_dir for k in jobs.width_keys(config, SOURCE, "soft_frozen_decoder-iso")] == [
        "batchtopk-w_512", "batchtopk"]
    # A baseline the headline build does not train, or another seed, gets its own member.
    assert jobs.width_keys(config, SOURCE, "soft_frozen_decoder-cov")[1].arch_dir == "batchtopk-w_1024"
    assert jobs.width_keys(with_studies(config, seed=7), SOURCE, "trained")[1].arch_dir == "batchtopk-w_1024"


def test_member_train_spec_sets_the_width_and_the_studies_training(default_config):
    spec = json.loads(specs.train_spec(default_config, SOURCE, "batchtopk-w_4096", "frozen_decoder-iso", 0))
    assert spec["sae"]["d_sae"] == 4096 and spec["sae"]["arch"] == "batchtopk"
    assert spec["sae"]["target_l0"] == default_config["saes"]["lm"]["target_l0"]
    assert spec["train"] == {**default_config["saes"]["lm"]["train"], "lr": 0.003}
    headline = json.loads(specs.train_spec(default_config, SOURCE, "batchtopk", "trained", 0))
    assert headline["train"] == default_config["saes"]["lm"]["train"]
    # Each width draws its own initial dictionary (no member starts with another's rows).
    seeds = {json.loads(specs.train_spec(default_config, SOURCE, f"batchtopk-w_{w}", "trained", 0))["sae"]["init_seed"]
             for w in default_config["studies"]["widths"]}
    assert len(seeds) == len(default_config["studies"]["widths"]) and 0 not in seeds
    with pytest.raises(KeyError, match="not in studies.widths"):
        specs.train_spec(default_config, SOURCE, "batchtopk-w_300", "trained", 0)


def test_members_climb_the_budget_ladder_and_only_they(default_config):
    # studies.until_converged (default 2): each member retrains at twice its budget until its curve flattens.
    member = json.loads(specs.train_spec(default_config, SOURCE, "batchtopk-w_4096", "trained", 0))
    assert member["until_converged"] == 2
    from saesanity.config import TrainJob, from_dict
    assert from_dict(TrainJob, member, "spec").until_converged == 2
    # The headline SAEs' specs have no such key (their bytes, and so their jobs, stay as they were).
    assert "until_converged" not in json.loads(specs.train_spec(default_config, SOURCE, "batchtopk", "trained", 0))
    off = with_studies(default_config, until_converged=0)
    assert "until_converged" not in json.loads(specs.train_spec(off, SOURCE, "batchtopk-w_4096", "trained", 0))


def test_stitching_pairs_each_member_with_the_one_below(default_config):
    config = with_studies(default_config, widths=[256, 512, 1024])
    assert jobs.smaller_width_key(config, SOURCE, "batchtopk-w_1024", "trained").arch_dir == "batchtopk-w_512"
    with pytest.raises(KeyError, match="above the smallest"):
        jobs.smaller_width_key(config, SOURCE, "batchtopk-w_256", "trained")
    inputs = targets.studies_inputs(config)
    n_variants = len(config["studies"]["variants"])
    assert len(inputs["stitching"]) == 2 * n_variants and len(inputs["meta"]) == n_variants
    assert all("batchtopk-w_1024" in f for f in inputs["meta"])
    # The four regimes probe each variant at the headline width.
    assert len(inputs["regimes"]) == n_variants and all("-w_1024/" in f for f in inputs["regimes"])


def test_widths_below_the_target_l0_are_refused(default_config):
    with pytest.raises(checks.PipelineConfigError, match="studies.widths"):
        checks.check_config(with_studies(default_config, widths=[8, 1024]))


def test_the_default_target_builds_no_study(default_config):
    studies = {f for files in targets.studies_inputs(default_config).values() for f in files}
    assert not studies & set(targets.all_targets(default_config))
    assert not any("-w_" in f or "regimes" in f for f in targets.all_targets(default_config))


@pytest.mark.parametrize("preset, aligned", [([], False), (["presets/toyworld.yaml"], True)])
def test_the_meta_sae_reads_activations_only_beside_concept_tags(tmp_path, preset, aligned):
    """The attribute alignment needs the toy world's concept tags and its held-out activations together; on a real
    model (SmolLM2, the default) the meta-SAE job is given neither (it was given the activations alone, which its
    command refuses)."""
    from snakemake_runs import copy_workflow, snakemake
    root = copy_workflow(tmp_path)
    configs = ["--configfile", *preset] if preset else []
    out = snakemake(root, "-n", "-p", "results/studies", *configs).stdout
    commands = [line for line in out.splitlines() if " meta-sae " in line]
    assert commands and all(("--data" in c) == aligned and ("--documents" in c) == aligned for c in commands)
