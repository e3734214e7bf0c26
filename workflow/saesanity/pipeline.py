"""What the Snakefile needs from the config: the list of jobs and each job's spec.

Paths follow DESIGN.md's contracts. A spec is the exact slice of the config one job depends on, passed as
the rule's params, so a changed setting makes stale only the jobs that read it (and their dependants).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

SYNTHETIC_PREFIX = "synthetic-"


@dataclass(frozen=True)
class SAEKey:
    source: str
    arch: str
    variant: str
    seed: int

    @property
    def path(self) -> str:
        return f"{self.source}/{self.arch}/{self.variant}/seed{self.seed}"


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
    _check_validation_sweep(config)


def _check_sae_group(config: dict, name: str) -> None:
    group = config["saes"][name]
    if group["target_l0"] > group["d_sae"]:
        raise PipelineConfigError(f"saes.{name}.target_l0 ({group['target_l0']}) exceeds d_sae ({group['d_sae']})")
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


def synthetic_sources(config: dict) -> list[str]:
    return [SYNTHETIC_PREFIX + dist for dist in config["synthetic"]["distributions"]]


def lm_sources(config: dict) -> list[str]:
    """`<model>-<hook>` for every hook the language model is harvested at (DESIGN.md contracts)."""
    return [f"{config['lm']['name']}-{hook}" for hook in config["lm"]["hooks"]]


def split_lm_source(source: str) -> tuple[str, str]:
    """(model, hook) of `<model>-<hook>`; model names may hold '-' (pythia-70m), hook names never do."""
    model, sep, hook = source.rpartition("-")
    if not sep or not model or not hook:
        raise KeyError(f"{source!r} is not a language-model source '<model>-<hook>'")
    return model, hook


def source_group(config: dict, source: str) -> dict:
    """The `saes.<group>` block that configures SAEs on `source`."""
    if source.startswith(SYNTHETIC_PREFIX):
        return config["saes"]["synthetic"]
    if source in lm_sources(config):
        return config["saes"]["lm"]
    raise KeyError(f"unknown source {source!r}; known: {synthetic_sources(config) + lm_sources(config)}")


def source_d_in(config: dict, source: str) -> int:
    if source.startswith(SYNTHETIC_PREFIX):
        return config["synthetic"]["d"]
    return lm_d_model(config)


def synthetic_dir(source: str) -> str:
    """results/synthetic/<dist> of a synthetic source (features.parquet, activations/, heldout/)."""
    if not source.startswith(SYNTHETIC_PREFIX):
        raise KeyError(f"{source!r} is not a synthetic source")
    return f"results/synthetic/{source.removeprefix(SYNTHETIC_PREFIX)}"


def activation_store(source: str, split: str) -> str:
    """The store an SAE on `source` trains on (split 'activations') or is evaluated on ('heldout').
    Language-model stores: results/activations/{model}/{hook} (the contract's training store) and
    results/activations/{model}/heldout/{hook}."""
    if source.startswith(SYNTHETIC_PREFIX):
        return f"{synthetic_dir(source)}/{split}"
    model, hook = split_lm_source(source)
    if split == "activations":
        return f"results/activations/{model}/{hook}"
    if split == "heldout":
        return f"results/activations/{model}/heldout/{hook}"
    raise KeyError(f"unknown split {split!r}")


def sae_keys(config: dict, source: str) -> list[SAEKey]:
    """The trained variant for every seed, each baseline for the baseline seeds, per architecture."""
    group = source_group(config, source)
    keys = []
    for arch in group["architectures"]:
        keys += [SAEKey(source, arch, "trained", s) for s in group["seeds"]]
        keys += [SAEKey(source, arch, v, s) for v in group["baselines"] for s in group["baseline_seeds"]]
    return keys


def variant_seeds(config: dict, source: str, variant: str) -> list[int]:
    group = source_group(config, source)
    return group["seeds"] if variant == "trained" else group["baseline_seeds"]


def consistency_keys(config: dict, source: str) -> list[tuple[str, str]]:
    """(arch, variant) pairs that have at least two seeds, so PW-MCC is defined."""
    group = source_group(config, source)
    variants = ["trained"] + list(group["baselines"])
    return [(a, v) for a in group["architectures"] for v in variants if len(variant_seeds(config, source, v)) >= 2]


def _synthetic_config(config: dict, dist: str, from_sweep: bool = False):
    from saesanity.config import SyntheticConfig, from_dict
    return from_dict(SyntheticConfig, json.loads(synthetic_spec(config, dist, from_sweep)), dist)


def synthetic_spec(config: dict, dist: str, from_sweep: bool | None = None) -> str:
    """JSON of saesanity.config.SyntheticConfig for one probability model, or for one data set of the
    validation sweep (validation.sweep.data, which sets the generator's fields itself)."""
    sweep_data = config["validation"]["sweep"]["data"]
    if from_sweep or (from_sweep is None and dist in sweep_data and dist not in config["synthetic"]["distributions"]):
        return canonical(sweep_data[dist])
    syn = config["synthetic"]
    models = syn["probability_models"]
    if dist not in models:
        raise KeyError(f"synthetic.probability_models has no {dist!r}; known: {sorted(models)}")
    spec = {k: v for k, v in syn.items() if k not in ("distributions", "probability_models")}
    spec["probability"] = models[dist]
    return canonical(spec)


def sweep_keys(config: dict) -> list[dict]:
    """Every SAE of the validation sweep: data set, dictionary size, architecture and seed."""
    sweep = config["validation"]["sweep"]
    return [{"dist": dist, "d_sae": d_sae, "arch": arch, "seed": seed} for dist in sweep["distributions"]
            for d_sae in sweep["d_sae"] for arch in sweep["architectures"] for seed in sweep["seeds"]]


def sweep_dir(dist: str, d_sae: int | str, arch: str) -> str:
    """Folder of the seeds of one sweep group (seed<seed>/ below it, each in the SAELens layout)."""
    return f"results/validation/saes/{dist}/d{d_sae}/{arch}"


def sweep_train_spec(config: dict, dist: str, d_sae: int, arch: str, seed: int) -> str:
    """JSON of saesanity.config.TrainJob for one SAE of the validation sweep (trained variant only)."""
    sweep = config["validation"]["sweep"]
    sae = {"arch": arch, "d_in": sweep["data"][dist]["d"], "d_sae": int(d_sae), "target_l0": sweep["target_l0"],
           "variant": "trained", "seed": int(seed), "options": sweep["arch"].get(arch, {})}
    return canonical({"sae": sae, "train": sweep["train"]})


def train_spec(config: dict, source: str, arch: str, variant: str, seed: int) -> str:
    """JSON of saesanity.config.TrainJob: this architecture's options only, and the Soft-Frozen cone only
    for Soft-Frozen variants, so that changing a setting another job reads leaves this job alone."""
    group = source_group(config, source)
    sae = {"arch": arch, "d_in": source_d_in(config, source), "d_sae": group["d_sae"],
           "target_l0": group["target_l0"], "variant": variant, "seed": int(seed),
           "options": arch_options(config, group, arch)}
    if variant.startswith("soft_frozen"):
        sae["soft_frozen_tau"] = config["soft_frozen_tau"]
    if variant != "trained" and group.get("baseline_init") == "shared":
        # The init of the first baseline seed for every seed; the seed still sets the data order.
        sae["init_seed"] = group["baseline_seeds"][0]
    return canonical({"sae": sae, "train": group["train"]})


TOYWORLD = "toyworld"
TOYWORLD_DIR = "results/toyworld"


def is_toyworld(config: dict) -> bool:
    return config["lm"]["kind"] == TOYWORLD


def toy_model_dir(config: dict) -> str:
    return f"results/models/{config['lm']['name']}"


def lm_d_model(config: dict) -> int:
    """Width of the hooked activations: the toy model's d_model, or lm.d_model for a Hugging Face model."""
    if is_toyworld(config):
        return config["toyworld"]["model"]["d_model"]
    return config["lm"]["d_model"]


def lm_model_spec(config: dict) -> dict:
    """saesanity.lm.model.ModelSpec of the configured language model."""
    lm = config["lm"]
    path = toy_model_dir(config) if is_toyworld(config) else lm["hf_model"]
    return {"kind": lm["kind"], "path": path, "device": lm["device"], "dtype": lm["dtype"], "n_ctx": lm["n_ctx"]}


def toyworld_spec(config: dict) -> str:
    return canonical(config["toyworld"]["corpus"])


def train_lm_spec(config: dict) -> str:
    tw = config["toyworld"]
    return canonical({"model": tw["model"], "train": tw["train"], "device": config["lm"]["device"]})


def harvest_spec(config: dict, model: str, hook: str) -> str:
    """JSON of saesanity.lm.jobs.HarvestJob for one hook."""
    lm = config["lm"]
    if model != lm["name"] or hook not in lm["hooks"]:
        raise KeyError(f"no harvest of {model}/{hook}: the config has lm.name {lm['name']!r}, "
                       f"lm.hooks {lm['hooks']}")
    h = lm["harvest"]
    train = {"n_tokens": h["n_tokens"], "batch_docs": h["batch_docs"], "shard_rows": h["shard_rows"],
             "dtype": h["dtype"]}
    heldout = {**train, "n_tokens": h["n_heldout_tokens"]}
    if is_toyworld(config):
        text = {"kind": TOYWORLD, "path": f"{TOYWORLD_DIR}/corpus", "split": "train"}
        heldout_text = {**text, "split": "heldout"}
    else:
        text = {"kind": "hf", **{k: v for k, v in lm["text"].items() if v is not None}}
        heldout_text = None
    return canonical({"model": lm_model_spec(config), "hook": hook, "text": text, "heldout_text": heldout_text,
                      "train": train, "heldout": heldout})


def lm_loss_spec(config: dict, source: str) -> str:
    _, hook = split_lm_source(source)
    ev = config["lm"]["eval"]
    return canonical({"model": lm_model_spec(config), "hook": hook, "n_docs": ev["n_docs"],
                      "batch_docs": ev["batch_docs"]})


def ravel_spec(config: dict, source: str) -> str:
    """JSON for eval-ravel: the model, the SAE's hook and evals.ravel."""
    _, hook = split_lm_source(source)
    return canonical({"model": lm_model_spec(config), "hook": hook, "ravel": config["evals"]["ravel"]})


def ravel_corpus(config: dict) -> list[str]:
    """The toy-world corpus an eval_ravel job reads its prompts from; none for RAVEL's own files."""
    return [f"{TOYWORLD_DIR}/corpus"] if config["evals"]["ravel"]["data"] == TOYWORLD else []


def arch_options(config: dict, group: dict, arch: str) -> dict:
    """An architecture's options for SAEs of one group: the top-level `arch.<arch>`, overridden by the
    group's own `arch.<arch>` (e.g. a longer dead-latent window for a longer training run)."""
    return {**config["arch"].get(arch, {}), **group.get("arch", {}).get(arch, {})}


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
