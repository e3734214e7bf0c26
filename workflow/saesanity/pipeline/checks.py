"""Cross-key checks of the config that the JSON schema cannot express; the Snakefile runs them before any
job is scheduled, so a bad config stops the run with the key named."""

from __future__ import annotations

import json
from pathlib import Path

from saesanity.config import SyntheticConfig, from_dict
from saesanity.data.offline.probing_sets import SETS as LOCAL_PROBING_SETS
from saesanity.pipeline.jobs import arch_options, convergence_runs, is_toyworld
from saesanity.pipeline.paths import PROBING_SETS, SYNTHETIC_PREFIX, VISION_PREFIX
from saesanity.pipeline.sanity import check_sanity
from saesanity.pipeline.specs import convergence_train_spec, synthetic_spec


class PipelineConfigError(ValueError):
    """The config is valid against the schema but inconsistent; the message names the key."""


def check_config(config: dict) -> None:
    """Cross-key checks the JSON schema cannot express; run by the Snakefile before any job."""
    _check_lm_config(config)
    syn = config["synthetic"]
    for dist in syn["distributions"]:
        if dist not in syn["probability_models"]:
            raise PipelineConfigError(f"synthetic.distributions: {dist!r} is not defined in "
                                      f"synthetic.probability_models (known: {sorted(syn['probability_models'])})")
    for name in ("synthetic", "lm"):
        _check_sae_group(config, name)
    if config["saes"]["synthetic"].get("ceilings") and config["saes"]["synthetic"]["d_sae"] != syn["n_features"]:
        raise PipelineConfigError(f"saes.synthetic.ceilings start from the true dictionary, one latent per feature: "
                                  f"they need d_sae ({config['saes']['synthetic']['d_sae']}) = synthetic.n_features "
                                  f"({syn['n_features']})")
    _check_validation_sweep(config)
    _check_autointerp(config)
    _check_convergence(config)
    check_sanity(config)
    _check_studies(config)
    _check_vision(config)
    _check_local_probing_sets(config)


def _check_local_probing_sets(config: dict) -> None:
    # The sets built from Debian packages have no hub copy: a config that names one must say where it is.
    for ds in config["evals"]["probing"]["datasets"]:
        if ds["name"] in LOCAL_PROBING_SETS and not (ds.get("path") and ds.get("data_files")):
            raise PipelineConfigError(f"evals.probing.datasets: {ds['name']!r} is a local-only set: give path: json "
                                      f"and data_files: [{PROBING_SETS}/{ds['name']}.jsonl] (built by "
                                      f"`snakemake {PROBING_SETS}`)")


def _check_studies(config: dict) -> None:
    study, lm = config["studies"], config["saes"]["lm"]
    small = min(study["widths"])
    if small < lm["target_l0"]:
        raise PipelineConfigError(f"studies.widths: {small} latents cannot fire saes.lm.target_l0 "
                                  f"({lm['target_l0']}) at once")


def _check_convergence(config: dict) -> None:
    study = config["convergence"]
    for dist in study["distributions"]:
        if dist not in config["synthetic"]["distributions"]:
            raise PipelineConfigError(f"convergence.distributions: {dist!r} is not in synthetic.distributions "
                                      f"({config['synthetic']['distributions']}), whose data the study trains on")
    for run in convergence_runs(config):
        job = json.loads(convergence_train_spec(config, run.dist, run.arch, run.run))
        dead_after = job["sae"]["options"].get("dead_after")
        if dead_after is not None and dead_after >= job["train"]["n_samples"]:
            raise PipelineConfigError(f"convergence run {run.path}: dead_after ({dead_after}) >= n_samples "
                                      f"({job['train']['n_samples']}): AuxK would never run")


def _check_sae_group(config: dict, name: str) -> None:
    group = config["saes"][name]
    for key, l0 in [("target_l0", group["target_l0"])] + [("l0_sweep", l0) for l0 in group.get("l0_sweep", [])]:
        if l0 > group["d_sae"]:
            raise PipelineConfigError(f"saes.{name}.{key} ({l0}) exceeds d_sae ({group['d_sae']})")
    if group.get("l0_sweep") and group.get("one_pass", "none") != "none":
        # A pass holds the SAEs of one seed at the group's target L0; sweep points have no pass to join.
        raise PipelineConfigError(f"saes.{name}.l0_sweep needs saes.{name}.one_pass: none "
                                  f"(got {group['one_pass']!r}); one-pass training does not cover sweep points")
    if group["train"]["n_samples"] < group["train"]["batch_size"]:
        raise PipelineConfigError(f"saes.{name}.train.n_samples is smaller than one batch (batch_size)")
    for arch in ("topk", "batchtopk"):
        dead_after = arch_options(config, group, arch)["dead_after"]
        if arch in group["architectures"] and dead_after >= group["train"]["n_samples"]:
            raise PipelineConfigError(
                f"arch.{arch}.dead_after ({dead_after}) >= saes.{name}.train.n_samples "
                f"({group['train']['n_samples']}): no latent could ever count as dead, so AuxK would never run")


def _check_validation_sweep(config: dict) -> None:
    syn = config["synthetic"]
    sweep = config["validation"]["sweep"]
    for arch in ("topk", "batchtopk"):
        dead_after = sweep["arch"].get(arch, {}).get("dead_after")
        if arch in sweep["architectures"] and dead_after is not None and dead_after >= sweep["train"]["n_samples"]:
            raise PipelineConfigError(
                f"validation.sweep.arch.{arch}.dead_after ({dead_after}) >= its train.n_samples "
                f"({sweep['train']['n_samples']}): no latent could ever count as dead, so AuxK would never run")
    for name in sweep["distributions"]:
        if name not in sweep["data"]:
            raise PipelineConfigError(f"validation.sweep.distributions: {name!r} is not defined in "
                                      f"validation.sweep.data (known: {sorted(sweep['data'])})")
        # Both are generated into results/synthetic/<name>: one name, one data set.
        if name in syn["distributions"] and _synthetic_config(config, name) != _synthetic_config(config, name, True):
            raise PipelineConfigError(f"validation.sweep.data.{name} differs from synthetic.distributions' {name!r}; "
                                      "rename one (both are generated into results/synthetic/<name>)")
    if sweep["distributions"] and sweep["target_l0"] > min(sweep["d_sae"]):
        raise PipelineConfigError(f"validation.sweep.target_l0 ({sweep['target_l0']}) exceeds the smallest "
                                  f"d_sae ({min(sweep['d_sae'])})")


def _check_lm_config(config: dict) -> None:
    lm = config["lm"]
    if not is_toyworld(config):
        for key in ("hf_model", "d_model"):
            if lm.get(key) is None:
                raise PipelineConfigError(f"lm.{key} is required when lm.kind is 'hf'")
        if lm.get("text", {}).get("path") is None:
            raise PipelineConfigError("lm.text.path is required when lm.kind is 'hf' (e.g. Skylion007/openwebtext)")
    if lm["name"].startswith(SYNTHETIC_PREFIX):
        raise PipelineConfigError(f"lm.name {lm['name']!r} starts with {SYNTHETIC_PREFIX!r}, "
                                  "the prefix of the synthetic sources")
    for hook in lm["hooks"]:
        if "-" in hook or "/" in hook:
            raise PipelineConfigError(f"lm.hooks: {hook!r} contains '-' or '/'; sources are '<model>-<hook>'")


def _check_autointerp(config: dict) -> None:
    if not is_toyworld(config) and config["evals"]["autointerp"]["backend"] == "ground_truth":
        raise PipelineConfigError("evals.autointerp.backend is 'ground_truth', which needs the toy world's "
                                  f"concept tags; lm.kind is {config['lm']['kind']!r}: use backend 'openai'")


def _synthetic_config(config: dict, dist: str, from_sweep: bool = False):
    return from_dict(SyntheticConfig, json.loads(synthetic_spec(config, dist, from_sweep)), dist)


def _check_vision(config: dict) -> None:
    """The vision block (opt-in target results/vision): its SAE group, and what kind clip needs. The image
    folder and the CLIP weights are checked by the jobs that read them, so a missing folder never stops a
    build that does not ask for results/vision."""
    if "vision" not in config:
        return
    _check_sae_group(config, "vision")
    vision = config["vision"]
    if vision["kind"] == "clip":
        for key in ("clip_model", "images", "d_model"):
            if vision.get(key) is None:
                raise PipelineConfigError(f"vision.{key} is required when vision.kind is 'clip' (presets/clip.yaml)")
        _check_clip_config(vision)
    else:
        _check_hook_layers(vision["hooks"], vision["model"]["n_layers"], "the toy ViT (vision.model.n_layers)")
    if vision["kind"] != "clip" and vision["world"]["n_train_images"] < vision["harvest"]["n_train_images"]:
        raise PipelineConfigError(f"vision.harvest.n_train_images ({vision['harvest']['n_train_images']}) exceeds "
                                  f"vision.world.n_train_images ({vision['world']['n_train_images']})")
    if f"{config['lm']['name']}-".startswith(VISION_PREFIX):
        raise PipelineConfigError(f"lm.name {config['lm']['name']!r} would give sources starting with "
                                  f"{VISION_PREFIX!r}, the prefix of the vision sources")


def _check_hook_layers(hooks: list[str], n_layers: int, what: str) -> None:
    for hook in hooks:
        layer = int(hook.split(".")[1])
        if layer >= n_layers:
            raise PipelineConfigError(f"vision.hooks: {hook!r} is past the last block of {what}: {n_layers} blocks")


def _check_clip_config(vision: dict) -> None:
    """Where the CLIP checkpoint is already here, its width and depth must fit vision.d_model and the hooks
    (read from config.json, no torch); a missing checkpoint is the harvest job's error, which says what to
    download."""
    path = Path(vision["clip_model"]) / "config.json"
    if not path.is_file():
        return
    raw = json.loads(path.read_text())
    raw = raw.get("vision_config", raw)
    if raw.get("hidden_size") != vision["d_model"]:
        raise PipelineConfigError(f"vision.d_model is {vision['d_model']} but {path} has hidden_size "
                                  f"{raw.get('hidden_size')}")
    _check_hook_layers(vision["hooks"], raw.get("num_hidden_layers", 0), str(path))
