"""What the Snakefile needs from the config: the list of jobs and each job's spec.

Paths follow DESIGN.md's contracts. A spec is the exact slice of the config one job depends on, passed as
the rule's params, so a changed setting makes stale only the jobs that read it (and their dependants).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

SYNTHETIC_PREFIX = "synthetic-"
# An L0-sweep point's folder carries its L0 in the architecture segment (`batchtopk-l0_80`), so the per-SAE
# rules' {source}/{arch}/{variant}/seed{seed} paths hold it unchanged and the headline SAEs keep their paths.
L0_TAG = "-l0_"


@dataclass(frozen=True)
class SAEKey:
    source: str
    arch: str
    variant: str
    seed: int
    target_l0: int | None = None  # set for a point of saes.<group>.l0_sweep, None for the headline L0

    @property
    def arch_dir(self) -> str:
        return self.arch if self.target_l0 is None else f"{self.arch}{L0_TAG}{self.target_l0}"

    @property
    def path(self) -> str:
        return f"{self.source}/{self.arch_dir}/{self.variant}/seed{self.seed}"


def split_arch_dir(arch_dir: str) -> tuple[str, int | None]:
    """(architecture, L0 of the sweep point or None) of a path's architecture segment."""
    arch, sep, l0 = arch_dir.partition(L0_TAG)
    if not sep:
        return arch, None
    if not l0.isdigit():
        raise KeyError(f"{arch_dir!r}: the L0 after {L0_TAG!r} must be an integer")
    return arch, int(l0)


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


def l0_sweep_keys(config: dict, source: str) -> list[SAEKey]:
    """The same SAEs as `sae_keys` at every L0 of `saes.<group>.l0_sweep` other than the group's target_l0
    (whose SAEs are the headline ones)."""
    group = source_group(config, source)
    return [SAEKey(k.source, k.arch, k.variant, k.seed, l0) for l0 in group.get("l0_sweep", [])
            if l0 != group["target_l0"] for k in sae_keys(config, source)]


@dataclass(frozen=True)
class TrainPass:
    """SAEs trained by one job in one pass over the data (`saes.<group>.one_pass`)."""

    source: str
    seed: int
    arch: str | None
    """None when the pass holds every architecture of the seed."""
    keys: tuple[SAEKey, ...]

    @property
    def name(self) -> str:
        """Rule name: unique per pass, letters, digits and underscores only."""
        parts = [self.source, self.arch, f"seed{self.seed}"] if self.arch else [self.source, f"seed{self.seed}"]
        return "train_pass_" + "_".join(re.sub(r"[^A-Za-z0-9]", "_", p) for p in parts)

    @property
    def path(self) -> str:
        """For the pass's log and benchmark files."""
        return f"{self.source}/{self.arch}/seed{self.seed}" if self.arch else f"{self.source}/seed{self.seed}"


def train_passes(config: dict) -> list[TrainPass]:
    """The one-pass training jobs of every group with `one_pass` other than none. SAEs of one seed share the
    data order (the seed and the group's train block set it), so each pass holds SAEs of one seed."""
    passes = []
    for source in synthetic_sources(config) + lm_sources(config):
        by = source_group(config, source).get("one_pass", "none")
        if by == "none":
            continue
        groups: dict[tuple[int, str | None], list[SAEKey]] = {}
        for k in sae_keys(config, source):
            groups.setdefault((k.seed, k.arch if by == "arch_seed" else None), []).append(k)
        passes += [TrainPass(source, seed, arch, tuple(ks)) for (seed, arch), ks in groups.items()]
    return passes


def per_sae_sources(config: dict) -> list[str]:
    """Sources whose SAEs are trained one job per SAE (the `train` rule)."""
    return [s for s in synthetic_sources(config) + lm_sources(config)
            if source_group(config, s).get("one_pass", "none") == "none"]


def per_sae_source_pattern(config: dict) -> str:
    """Wildcard constraint of the `train` rule: the sources of `per_sae_sources`, so that it never competes
    with a pass rule for an SAE folder (a pattern that matches nothing when every group trains in passes)."""
    return "|".join(re.escape(s) for s in per_sae_sources(config)) or "(?!)"


def train_pass_spec(config: dict, train_pass: TrainPass) -> str:
    """JSON list of the pass's TrainJobs, in the order of its output folders."""
    return "[" + ",".join(train_spec(config, k.source, k.arch, k.variant, k.seed) for k in train_pass.keys) + "]"


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
    for Soft-Frozen variants, so that changing a setting another job reads leaves this job alone. `arch` is
    the path segment: an L0-sweep point's (`batchtopk-l0_80`) sets target_l0."""
    group = source_group(config, source)
    arch, sweep_l0 = split_arch_dir(arch)
    if sweep_l0 is not None and sweep_l0 not in group.get("l0_sweep", []):
        raise KeyError(f"L0 {sweep_l0} of {source}/{arch}{L0_TAG}{sweep_l0} is not in its group's l0_sweep")
    sae = {"arch": arch, "d_in": source_d_in(config, source), "d_sae": group["d_sae"],
           "target_l0": group["target_l0"] if sweep_l0 is None else sweep_l0, "variant": variant,
           "seed": int(seed), "options": arch_options(config, group, arch)}
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


def table2_evals(config: dict) -> list[str]:
    """The evaluations whose per-SAE JSON table2.csv reads (saesanity.table2.COLUMNS): core always; probing,
    RAVEL and AutoInterp where their `evals.<name>` block is in the config; the ground-truth concept check
    (settings in evals.autointerp) on the toy world only, the one model whose concepts are known."""
    evals = config.get("evals", {})
    names = ["core"] + [name for name in ("probing", "ravel", "autointerp") if name in evals]
    if "autointerp" in evals and is_toyworld(config):
        names.append("concepts")
    return names


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


def probing_dir(model: str, hook: str) -> str:
    """The sparse-probing preparation of one model and hook (tokens/, tasks.parquet, prep.json)."""
    return f"results/evals/probing/{model}/{hook}"


def probing_prep_spec(config: dict, model: str, hook: str) -> str:
    """JSON of saesanity.evals.probing.jobs.PrepJob: the model (context evals.probing.n_ctx), the hook, and
    what decides the tasks' documents (not ks: changing ks reruns only the per-SAE jobs)."""
    if model != config["lm"]["name"] or hook not in config["lm"]["hooks"]:
        raise KeyError(f"no probing preparation of {model}/{hook}: the config has lm.name {config['lm']['name']!r}, "
                       f"lm.hooks {config['lm']['hooks']}")
    probing = config["evals"]["probing"]
    model_spec = lm_model_spec(config)
    if probing["n_ctx"] is not None:
        model_spec["n_ctx"] = probing["n_ctx"]
    datasets = [{k: v for k, v in d.items() if v is not None} for d in probing["datasets"]]
    for d in datasets:
        if d["name"] == TOYWORLD:
            d.setdefault("path", f"{TOYWORLD_DIR}/corpus")
    return canonical({"model": model_spec, "hook": hook,
                      "probing": {"datasets": datasets, "n_train": probing["n_train"], "n_test": probing["n_test"],
                                  "seed": probing["seed"], "batch_docs": probing["batch_docs"],
                                  "dtype": probing["dtype"]}})


def probing_eval_spec(config: dict) -> str:
    return canonical({"ks": config["evals"]["probing"]["ks"], "device": config["lm"]["device"]})


AUTOINTERP_FILES = ("autointerp.json", "concepts.json")


def autointerp_files(config: dict) -> tuple[str, ...]:
    """The files one eval_autointerp job writes: the concept check (concepts.json) needs the toy world's
    concept tags, so a Hugging Face model gets autointerp.json only."""
    return AUTOINTERP_FILES if is_toyworld(config) else AUTOINTERP_FILES[:1]


def autointerp_spec(config: dict) -> str:
    """JSON of the evals.autointerp block (saesanity.evals.autointerp.config.AutoInterpConfig)."""
    block = config["evals"]["autointerp"]
    if not is_toyworld(config) and block["backend"] == "ground_truth":
        raise PipelineConfigError("evals.autointerp.backend is 'ground_truth', which needs the toy world's "
                                  f"concept tags; lm.kind is {config['lm']['kind']!r}: use backend 'openai'")
    return canonical(block)


def autointerp_text_args(config: dict, corpus: str | None) -> str:
    """Where eval-autointerp gets token text: the toy world's documents (text and concepts) or the Hugging
    Face model's tokenizer (text only)."""
    if is_toyworld(config):
        return f"--documents {corpus}/documents.parquet"
    return f"--tokenizer {config['lm']['hf_model']}"
