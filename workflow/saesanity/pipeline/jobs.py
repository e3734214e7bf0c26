"""Which jobs the config asks for: the sources, the SAEs on each (headline, L0 sweep, validation sweep), the
one-pass training groups, the seed groups of PW-MCC and the evaluations table2.csv reads."""

from __future__ import annotations

import re
from dataclasses import dataclass

from saesanity.evals import registry
from saesanity.pipeline.paths import (L0_TAG, SANITY_TAG, SYNTHETIC_PREFIX, VISION_PREFIX, WIDTH_TAG, convergence_key,
                                      sae_key, vision_source)

TOYWORLD = "toyworld"


@dataclass(frozen=True)
class SAEKey:
    source: str
    arch: str
    variant: str
    seed: int
    target_l0: int | None = None  # set for a point of saes.<group>.l0_sweep, None for the headline L0
    sanity: str | None = None  # the name of a sanity check (config `sanity.saes`) this SAE belongs to
    d_sae: int | None = None  # set for a member of the width family (config `studies.widths`)

    @property
    def arch_dir(self) -> str:
        if self.sanity is not None:
            return f"{self.arch}{SANITY_TAG}{self.sanity}"
        if self.d_sae is not None:
            return f"{self.arch}{WIDTH_TAG}{self.d_sae}"
        return self.arch if self.target_l0 is None else f"{self.arch}{L0_TAG}{self.target_l0}"

    @property
    def path(self) -> str:
        return sae_key(self.source, self.arch_dir, self.variant, self.seed)


def is_toyworld(config: dict) -> bool:
    return config["lm"]["kind"] == TOYWORLD


def synthetic_sources(config: dict) -> list[str]:
    return [SYNTHETIC_PREFIX + dist for dist in config["synthetic"]["distributions"]]


def lm_sources(config: dict) -> list[str]:
    """`<model>-<hook>` for every hook the language model is harvested at (docs/design.md, Contracts)."""
    return [f"{config['lm']['name']}-{hook}" for hook in config["lm"]["hooks"]]


def source_group(config: dict, source: str) -> dict:
    """The `saes.<group>` block that configures SAEs on `source`."""
    if source.startswith(SYNTHETIC_PREFIX):
        return config["saes"]["synthetic"]
    if source in lm_sources(config):
        return config["saes"]["lm"]
    if source in vision_sources(config):
        return config["saes"]["vision"]
    raise KeyError(f"unknown source {source!r}; known: "
                   f"{synthetic_sources(config) + lm_sources(config) + vision_sources(config)}")


def arch_options(config: dict, group: dict, arch: str) -> dict:
    """An architecture's options for SAEs of one group: the top-level `arch.<arch>`, overridden by the
    group's own `arch.<arch>` (e.g. a longer dead-latent window for a longer training run)."""
    return {**config["arch"].get(arch, {}), **group.get("arch", {}).get(arch, {})}


def lm_d_model(config: dict) -> int:
    """Width of the hooked activations: the toy model's d_model, or lm.d_model for a Hugging Face model."""
    if is_toyworld(config):
        return config["toyworld"]["model"]["d_model"]
    return config["lm"]["d_model"]


def source_d_in(config: dict, source: str) -> int:
    if source.startswith(SYNTHETIC_PREFIX):
        return config["synthetic"]["d"]
    if source.startswith(VISION_PREFIX):
        return vision_d_model(config)
    return lm_d_model(config)


def arch_baselines(group: dict, arch: str) -> list[str]:
    """The baselines trained beside `arch` in one SAE group: its entry of baselines_by_arch, else (no entry,
    or null: how a preset undoes config.yaml's entry) baselines."""
    return list(group.get("baselines_by_arch", {}).get(arch) or group["baselines"])


def sae_keys(config: dict, source: str) -> list[SAEKey]:
    """The trained variant for every seed, each baseline (and, on synthetic data, each ceiling) for the
    baseline seeds, per architecture."""
    group = source_group(config, source)
    keys = []
    for arch in group["architectures"]:
        keys += [SAEKey(source, arch, "trained", s) for s in group["seeds"]]
        keys += [SAEKey(source, arch, v, s) for v in arch_baselines(group, arch) + group.get("ceilings", [])
                 for s in group["baseline_seeds"]]
    return keys


def l0_sweep_keys(config: dict, source: str) -> list[SAEKey]:
    """The same SAEs as `sae_keys` at every L0 of `saes.<group>.l0_sweep` other than the group's target_l0
    (whose SAEs are the headline ones)."""
    group = source_group(config, source)
    return [SAEKey(k.source, k.arch, k.variant, k.seed, l0) for l0 in group.get("l0_sweep", [])
            if l0 != group["target_l0"] for k in sae_keys(config, source)]


def synthetic_sae_keys(config: dict) -> list[SAEKey]:
    return [k for src in synthetic_sources(config) for k in sae_keys(config, src)]


def lm_headline_keys(config: dict) -> list[SAEKey]:
    """The language-model SAEs at the headline L0 (saes.lm.target_l0)."""
    return [k for src in lm_sources(config) for k in sae_keys(config, src)]


def lm_sae_keys(config: dict) -> list[SAEKey]:
    """Every language-model SAE: the headline ones and the points of saes.lm.l0_sweep."""
    return lm_headline_keys(config) + [k for src in lm_sources(config) for k in l0_sweep_keys(config, src)]


def width_keys(config: dict, source: str, variant: str) -> list[SAEKey]:
    """The width family of one variant on a language-model source (config `studies`: the SAEs of SAE
    stitching and meta-SAEs, arXiv 2502.04878), smallest first. The member at the headline width is the
    headline SAE where the headline build has it (same architecture, variant, seed and training), so it is not
    trained twice."""
    study, group = config["studies"], source_group(config, source)
    arch, seed = study["arch"], study["seed"]
    headline_seeds = group["seeds"] if variant == "trained" else (
        group["baseline_seeds"] if variant in group["baselines"] else [])
    same_training = studies_train(config) == group["train"]
    is_headline = arch in group["architectures"] and seed in headline_seeds and same_training
    return [SAEKey(source, arch, variant, seed) if w == group["d_sae"] and is_headline
            else SAEKey(source, arch, variant, seed, d_sae=w) for w in sorted(study["widths"])]


def width_init_seed(seed: int, width: int) -> int:
    """The initial dictionary's seed of a width-family member. Each width draws its own: torch draws a random
    dictionary row by row from one seeded stream, so at a shared seed the wider dictionary would start with
    every row of the narrower one, and stitching would find them "reconstruction latents" by construction."""
    return int(seed) * 2 ** 32 + int(width)


def studies_train(config: dict) -> dict:
    """The width family's train block: saes.lm.train with studies.train's settings over it."""
    return {**config["saes"]["lm"]["train"], **config["studies"]["train"]}


def smaller_width_key(config: dict, source: str, arch_dir: str, variant: str) -> SAEKey:
    """The family member one width below the SAE at `arch_dir` (the smaller SAE of its stitching pair)."""
    keys = width_keys(config, source, variant)
    dirs = [k.arch_dir for k in keys]
    if arch_dir not in dirs[1:]:
        raise KeyError(f"{source}/{arch_dir}/{variant} is not a width-family member above the smallest "
                       f"(studies.widths {config['studies']['widths']}, arch {config['studies']['arch']})")
    return keys[dirs.index(arch_dir) - 1]


def studies_keys(config: dict) -> list[SAEKey]:
    """Every SAE of the studies: each variant's width family on every language-model source."""
    return [k for src in lm_sources(config) for v in config["studies"]["variants"] for k in width_keys(config, src, v)]


def regimes_keys(config: dict) -> list[SAEKey]:
    """The SAEs probed in the four regimes (arXiv 2502.16681): each variant at the headline width."""
    width = config["saes"]["lm"]["d_sae"]
    return [k for k in studies_keys(config) if (k.d_sae or width) == width]


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
    for source in synthetic_sources(config) + lm_sources(config) + vision_sources(config):
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
    return [s for s in synthetic_sources(config) + lm_sources(config) + vision_sources(config)
            if source_group(config, s).get("one_pass", "none") == "none"]


def per_sae_source_pattern(config: dict) -> str:
    """Wildcard constraint of the `train` rule: the sources of `per_sae_sources`, so that it never competes
    with a pass rule for an SAE folder (a pattern that matches nothing when every group trains in passes)."""
    return "|".join(re.escape(s) for s in per_sae_sources(config)) or "(?!)"


def variant_seeds(config: dict, source: str, variant: str) -> list[int]:
    group = source_group(config, source)
    return group["seeds"] if variant == "trained" else group["baseline_seeds"]


def consistency_keys(config: dict, source: str) -> list[tuple[str, str]]:
    """(arch, variant) pairs that have at least two seeds, so PW-MCC is defined."""
    group = source_group(config, source)
    return [(a, v) for a in group["architectures"] for v in ["trained"] + arch_baselines(group, a)
            if len(variant_seeds(config, source, v)) >= 2]


def sweep_keys(config: dict) -> list[dict]:
    """Every SAE of the validation sweep: data set, dictionary size, architecture and seed."""
    sweep = config["validation"]["sweep"]
    return [{"dist": dist, "d_sae": d_sae, "arch": arch, "seed": seed} for dist in sweep["distributions"]
            for d_sae in sweep["d_sae"] for arch in sweep["architectures"] for seed in sweep["seeds"]]


def table2_evals(config: dict) -> list[str]:
    """The evaluations whose per-SAE JSON table2.csv reads, of those the build runs for this language model
    (saesanity.evals.registry: core and the spliced loss always; probing, RAVEL and AutoInterp where their
    `evals.<name>` block is in the config and AutoInterp has a judge; the concept check on the toy world only)."""
    return registry.configured(config.get("evals", {}), is_toyworld(config))


AUTOINTERP_FILES = ("autointerp", "concepts")


def autointerp_files(config: dict) -> tuple[str, ...]:
    """The metrics one eval_autointerp job writes: the concept check (concepts.json) needs the toy world's
    concept tags, so a Hugging Face model gets autointerp.json only."""
    return AUTOINTERP_FILES if is_toyworld(config) else AUTOINTERP_FILES[:1]


# The synthetic convergence study (config `convergence`): the base recipe for every architecture, and one
# run per other value of each axis (one factor at a time) for the axis architectures and distributions.
TRAIN_AXES = ("lr", "batch_size", "decoder_lr_scale", "n_samples")
OPTION_AXES = ("dead_after",)
"""Axes that are architecture options (AuxK's dead-latent window: TopK and BatchTopK only)."""


@dataclass(frozen=True)
class ConvergenceRun:
    dist: str
    arch: str
    run: str
    """'base', or '<axis>-<value>'."""

    @property
    def path(self) -> str:
        return convergence_key(self.dist, self.arch, self.run)


def _axis_value(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def convergence_base(config: dict, arch: str) -> dict:
    """The base recipe of one architecture: saes.synthetic's train block and options under the study's."""
    study, group = config["convergence"], config["saes"]["synthetic"]
    options = {**arch_options(config, group, arch), **study["arch"].get(arch, {})}
    return {"train": {**group["train"], **study["train"]}, "options": options}


def convergence_runs(config: dict) -> list[ConvergenceRun]:
    study = config["convergence"]
    runs = []
    for dist in study["distributions"]:
        for arch in study["architectures"]:
            runs.append(ConvergenceRun(dist, arch, "base"))
            axis_dists = study["axis_distributions"]
            if arch not in study["axis_architectures"] or (axis_dists is not None and dist not in axis_dists):
                continue
            base = convergence_base(config, arch)
            for axis, values in study["axes"].items():
                if axis in OPTION_AXES and axis not in base["options"]:
                    continue  # an option this architecture does not have
                current = base["options"].get(axis) if axis in OPTION_AXES else base["train"][axis]
                runs += [ConvergenceRun(dist, arch, f"{axis}-{_axis_value(v)}") for v in values if v != current]
    return runs


# The vision part (config `vision`, docs/vision.md): SAEs of group saes.vision on a vision model's hooks,
# trained by the same rules; built only by the opt-in target results/vision.
TOYVIT = "toyvit"


def is_toyvit(config: dict) -> bool:
    return config["vision"]["kind"] == TOYVIT


def vision_sources(config: dict) -> list[str]:
    """`vision-<vision.name>-<hook>` for every hook of vision.hooks (none for a config without the block, as
    a hand-written one in a test)."""
    if "vision" not in config:
        return []
    return [vision_source(config["vision"]["name"], hook) for hook in config["vision"]["hooks"]]


def vision_d_model(config: dict) -> int:
    """Width of the hooked activations: the toy ViT's d_model, or vision.d_model for CLIP."""
    vision = config["vision"]
    return vision["model"]["d_model"] if is_toyvit(config) else vision["d_model"]


def vision_sae_keys(config: dict) -> list[SAEKey]:
    return [k for src in vision_sources(config) for k in sae_keys(config, src)]
