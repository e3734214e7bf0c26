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
    syn = config["synthetic"]
    for dist in syn["distributions"]:
        if dist not in syn["probability_models"]:
            raise PipelineConfigError(f"synthetic.distributions: {dist!r} is not defined in "
                                      f"synthetic.probability_models (known: {sorted(syn['probability_models'])})")
    group = config["saes"]["synthetic"]
    if group["target_l0"] > group["d_sae"]:
        raise PipelineConfigError(f"saes.synthetic.target_l0 ({group['target_l0']}) exceeds d_sae ({group['d_sae']})")
    if group["train"]["n_samples"] < group["train"]["batch_size"]:
        raise PipelineConfigError("saes.synthetic.train.n_samples is smaller than one batch (batch_size)")
    sweep = config["validation"]["sweep"]
    for where, options, archs, train in (("arch", config["arch"], group["architectures"], group["train"]),
                                         ("validation.sweep.arch", sweep["arch"], sweep["architectures"],
                                          sweep["train"])):
        for arch in ("topk", "batchtopk"):
            dead_after = options.get(arch, {}).get("dead_after")
            if arch in archs and dead_after is not None and dead_after >= train["n_samples"]:
                raise PipelineConfigError(
                    f"{where}.{arch}.dead_after ({dead_after}) >= its train.n_samples ({train['n_samples']}): "
                    "no latent could ever count as dead, so AuxK would never run")
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


def synthetic_sources(config: dict) -> list[str]:
    return [SYNTHETIC_PREFIX + dist for dist in config["synthetic"]["distributions"]]


def source_group(config: dict, source: str) -> dict:
    """The `saes.<group>` block that configures SAEs on `source`."""
    if source.startswith(SYNTHETIC_PREFIX):
        return config["saes"]["synthetic"]
    raise KeyError(f"unknown source {source!r}; known: {synthetic_sources(config)}")


def synthetic_dir(source: str) -> str:
    """results/synthetic/<dist> of a synthetic source (features.parquet, activations/, heldout/)."""
    if not source.startswith(SYNTHETIC_PREFIX):
        raise KeyError(f"{source!r} is not a synthetic source")
    return f"results/synthetic/{source.removeprefix(SYNTHETIC_PREFIX)}"


def activation_store(source: str, split: str) -> str:
    """The store an SAE on `source` trains on (split 'activations') or is evaluated on ('heldout')."""
    if source.startswith(SYNTHETIC_PREFIX):
        return f"{synthetic_dir(source)}/{split}"
    raise KeyError(f"no activation store for source {source!r}")


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
    d_in = config["synthetic"]["d"] if source.startswith(SYNTHETIC_PREFIX) else group["d_in"]
    sae = {"arch": arch, "d_in": d_in, "d_sae": group["d_sae"], "target_l0": group["target_l0"],
           "variant": variant, "seed": int(seed), "options": config["arch"].get(arch, {})}
    if variant.startswith("soft_frozen"):
        sae["soft_frozen_tau"] = config["soft_frozen_tau"]
    if variant != "trained" and group.get("baseline_init") == "shared":
        # The init of the first baseline seed for every seed; the seed still sets the data order.
        sae["init_seed"] = group["baseline_seeds"][0]
    return canonical({"sae": sae, "train": group["train"]})


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))
