"""Every output path of the workflow, defined once. The rules (workflow/rules/*.smk) and the package build
their paths here: a function called with Snakemake wildcards ("{source}", ...) gives the rule's template,
called with values it gives one file. The layout is docs/design.md's Contracts."""

from __future__ import annotations

from saesanity.config import CONCEPT_DICTIONARY
from saesanity.sae.layout import CFG, CHECKPOINTS, TRAIN_CURVE, TRAIN_LOG, WEIGHTS

RESULTS = "results"
SYNTHETIC_PREFIX = "synthetic-"
"""Sources are `synthetic-<dist>` or `<model>-<hook>`."""
# An L0-sweep point's folder carries its L0 in the architecture segment (`batchtopk-l0_80`), so the per-SAE
# rules' {source}/{arch}/{variant}/seed{seed} paths hold it unchanged and the headline SAEs keep their paths.
L0_TAG = "-l0_"
# A sanity check of an SAE from elsewhere (config `sanity`) keeps the imported SAE and its matched baselines
# under <arch>-sanity_<name>, so every per-SAE evaluation rule serves them unchanged.
SANITY_TAG = "-sanity_"
# A member of the width family of the studies of arXiv 2502.04878 (config `studies.widths`) carries its
# dictionary size: `batchtopk-w_4096`; the member at the headline width is the headline SAE itself.
WIDTH_TAG = "-w_"

SAE_KEY = "{source}/{arch}/{variant}/seed{seed}"
"""One SAE below results/saes and results/metrics (SAEKey.path fills it)."""
SAE_GROUP = "{source}/{arch}/{variant}"
"""The seeds of one SAE configuration (consistency.json, validation.json)."""
SWEEP_GROUP = "{dist}/d{d_sae}/{arch}"
"""One group of seeds of the validation sweep, below results/validation/saes and results/validation/metrics."""
SAE_LOADABLE = (CFG, WEIGHTS)
"""What loading an SAE reads: the inputs of every per-SAE evaluation."""
SAE_FILES = (CFG, WEIGHTS, TRAIN_LOG)
"""What training writes into an SAE folder, besides checkpoints/."""

TOYWORLD_DIR = f"{RESULTS}/toyworld"
TOYWORLD_CORPUS = f"{TOYWORLD_DIR}/corpus"
TOYWORLD_TOKENIZER = f"{TOYWORLD_DIR}/tokenizer"
FIGURES = f"{RESULTS}/figures"
# Real text and labels built from pinned package-registry files (saesanity.data.offline, docs/offline-data.md).
TEXT_DIR = f"{RESULTS}/text"
SENTIMENT_SET = f"{TEXT_DIR}/sentiment"
RAVEL_CITIES = f"{TEXT_DIR}/ravel_cities"
ENGLISH_TEXT = f"{TEXT_DIR}/english"
"""train.jsonl, heldout.jsonl (split by document), provenance.json."""
PROBING_SETS = f"{TEXT_DIR}/probing"
"""<set>.jsonl per Debian-built probing set, provenance.json."""
PYPI_DOWNLOADS = f"{RESULTS}/downloads/pypi"
DEBIAN_DOWNLOADS = f"{RESULTS}/downloads/debian"
"""The .deb files and their extracted folders (<name>_<version>/), shared by the offline-text rules."""
DEBIAN_PACKAGE = f"{DEBIAN_DOWNLOADS}/{{deb}}"
"""One extracted package; `deb` is its pinned folder name (saesanity.data.offline.debian.DebPin.folder)."""
OFFLINE_PROBING_FILES = {"movie_sentiment": f"{SENTIMENT_SET}/sentiment.jsonl",
                         "snippet_source": f"{SENTIMENT_SET}/source.jsonl",
                         **{name: f"{PROBING_SETS}/{name}.jsonl"
                            for name in ("wordnet_topic", "wordnet_profession", "manpages_language")}}
"""The file each local-only probing data set is read from (evals.probing.datasets), built by a rule."""


def sae_key(source: str, arch_dir: str, variant: str, seed: int | str) -> str:
    return SAE_KEY.format(source=source, arch=arch_dir, variant=variant, seed=seed)


def group_key(source: str, arch_dir: str, variant: str) -> str:
    return SAE_GROUP.format(source=source, arch=arch_dir, variant=variant)


def sae_dir(key: str = SAE_KEY) -> str:
    """results/saes/<source>/<arch>/<variant>/seed<seed>: an SAE in the SAELens layout plus train_log.csv."""
    return f"{RESULTS}/saes/{key}"


def files_in(folder: str, names: tuple[str, ...] = SAE_FILES) -> list[str]:
    return [f"{folder}/{name}" for name in names]


def sae_file(key: str, name: str) -> str:
    return f"{sae_dir(key)}/{name}"


def sae_files(key: str = SAE_KEY, names: tuple[str, ...] = SAE_FILES) -> list[str]:
    return files_in(sae_dir(key), names)


def checkpoints_dir(key: str = SAE_KEY) -> str:
    return f"{sae_dir(key)}/{CHECKPOINTS}"


def metrics_file(key: str, name: str) -> str:
    """results/metrics/<key>/<name>.json: one evaluation of one SAE (key: SAE_KEY), of the seeds of one
    configuration (SAE_GROUP), or of the language model (its name)."""
    return f"{RESULTS}/metrics/{key}/{name}.json"


def synthetic_data_dir(dist: str) -> str:
    """results/synthetic/<dist>: features.parquet, activations/, heldout/."""
    return f"{RESULTS}/synthetic/{dist}"


def synthetic_store(dist: str, split: str) -> str:
    """results/synthetic/<dist>/activations (training) or heldout (evaluation)."""
    return f"{synthetic_data_dir(dist)}/{split}"


def features_file(dist: str) -> str:
    return f"{synthetic_data_dir(dist)}/features.parquet"


def synthetic_dist(source: str) -> str:
    """The data set (probability model or sweep data set) of a synthetic source `synthetic-<dist>`."""
    if not source.startswith(SYNTHETIC_PREFIX):
        raise KeyError(f"{source!r} is not a synthetic source")
    return source.removeprefix(SYNTHETIC_PREFIX)


def split_lm_source(source: str) -> tuple[str, str]:
    """(model, hook) of `<model>-<hook>`; model names may hold '-' (pythia-70m), hook names never do."""
    model, sep, hook = source.rpartition("-")
    if not sep or not model or not hook:
        raise KeyError(f"{source!r} is not a language-model source '<model>-<hook>'")
    return model, hook


def split_arch_dir(arch_dir: str) -> tuple[str, int | None]:
    """(architecture, L0 of the sweep point or None) of a path's architecture segment."""
    arch_dir = arch_dir.partition(SANITY_TAG)[0].partition(WIDTH_TAG)[0]
    arch, sep, l0 = arch_dir.partition(L0_TAG)
    if not sep:
        return arch, None
    if not l0.isdigit():
        raise KeyError(f"{arch_dir!r}: the L0 after {L0_TAG!r} must be an integer")
    return arch, int(l0)


def width_of(arch_dir: str) -> int | None:
    """The dictionary size of a width-family member's architecture segment (`batchtopk-w_4096`), or None."""
    _, sep, width = arch_dir.partition(WIDTH_TAG)
    if not sep:
        return None
    if not width.isdigit():
        raise KeyError(f"{arch_dir!r}: the width after {WIDTH_TAG!r} must be an integer")
    return int(width)


def sanity_name(arch_dir: str) -> str | None:
    """The sanity check (config `sanity.saes[].name`) an architecture segment belongs to, or None."""
    _, sep, name = arch_dir.partition(SANITY_TAG)
    return name if sep else None


SANITY_KEY = "{source}/{arch}" + SANITY_TAG + "{name}/{variant}/seed{seed}"
"""One SAE of a sanity check: the imported SAE (variant trained, seed 0) or a baseline; a form of SAE_KEY."""
EXTERNAL_SEED = 0
"""The seed segment of an imported SAE's folder: it has one, whatever seed trained it."""
SANITY_IMPORT_KEY = "{source}/{arch}" + SANITY_TAG + f"{{name}}/trained/seed{EXTERNAL_SEED}"
SANITY_CONCEPTS_KEY = "{source}/{arch}" + SANITY_TAG + f"{{name}}/{CONCEPT_DICTIONARY}/seed{EXTERNAL_SEED}"
"""A sanity check's positive control on the toy world (saesanity.sanity.concept_dictionary)."""


def sanity_key(source: str, arch: str, name: str, variant: str, seed: int | str) -> str:
    return SANITY_KEY.format(source=source, arch=arch, name=name, variant=variant, seed=seed)


SANITY_DIR = f"{RESULTS}/sanity"
"""results/sanity/<name>/: verdict.csv, verdict.md and verdict.png of each SAE of config `sanity`."""
SANITY_REFERENCE = "reference.json"
"""Beside an imported SAE's cfg.json: its format, origin and held-out L0, which its baselines are trained to."""


def external_example_dir(name: str) -> str:
    """Where sanity_example writes a `sanity.saes[].example` SAE in its library's format."""
    return f"{RESULTS}/external/{name}"


def activation_store(source: str, split: str) -> str:
    """The store an SAE on `source` trains on (split 'activations') or is evaluated on ('heldout')."""
    if source.startswith(VISION_PREFIX):
        return vision_store(*split_vision_source(source), split)
    if source.startswith(SYNTHETIC_PREFIX):
        return synthetic_store(synthetic_dist(source), split)
    return lm_store(*split_lm_source(source), split)


def lm_store(model: str, hook: str, split: str, root: str = "activations") -> str:
    """A language model's activations at one hook: results/activations/{model}/{hook} (the training store)
    and results/activations/{model}/heldout/{hook} (a sibling, so the two are separate rule outputs); a vision
    model's the same below `root` vision_activations."""
    if split == "activations":
        return f"{RESULTS}/{root}/{model}/{hook}"
    if split == "heldout":
        return f"{RESULTS}/{root}/{model}/heldout/{hook}"
    raise KeyError(f"unknown split {split!r}")


def model_dir(name: str) -> str:
    """A model the pipeline trains: the toy world's (model.safetensors, config.json, tokenizer/) or the toy
    ViT's, named by lm.name / vision.name."""
    return f"{RESULTS}/models/{name}"


def pretrained_dir(name: str) -> str:
    """A packaged pretrained model the pipeline fetches and dequantises (a Hugging Face folder and
    provenance.json), named by lm.packaged: apart from model_dir, so no lm.name can collide with it."""
    return f"{RESULTS}/pretrained/{name}"


def english_text(split: str) -> str:
    """results/text/english/<split>.jsonl: the offline English documents (rule english_text)."""
    return f"{ENGLISH_TEXT}/{split}.jsonl"


def probing_dir(model: str, hook: str) -> str:
    """The sparse-probing preparation of one model and hook (tokens/, tasks.parquet, prep.json)."""
    return f"{RESULTS}/evals/probing/{model}/{hook}"


def lm_loss_prep_dir(model: str, hook: str) -> str:
    """The zero-ablation reference of the spliced-loss eval, once per model and hook."""
    return f"{RESULTS}/evals/lm_loss/{model}/{hook}"


def ravel_prep_dir(model: str, hook: str) -> str:
    """RAVEL's prompts through the model, once per model and hook: activations at the hook, clean answers."""
    return f"{RESULTS}/evals/ravel/{model}/{hook}"


def regimes_dir(model: str, hook: str) -> str:
    """Probing in four regimes (arXiv 2502.16681), once per model and hook: the documents' token activations."""
    return f"{RESULTS}/evals/regimes/{model}/{hook}"


STUDIES_DIR = f"{RESULTS}/studies"
"""results/studies/: the tables and figures of SAE stitching, meta-SAEs and probing in four regimes."""


def sweep_key(dist: str, d_sae: int | str, arch: str) -> str:
    """One group of the validation sweep (data set, dictionary size, architecture)."""
    return SWEEP_GROUP.format(dist=dist, d_sae=d_sae, arch=arch)


def sweep_dir(dist: str, d_sae: int | str, arch: str) -> str:
    """Folder of the seeds of one sweep group (seed<seed>/ below it, each in the SAELens layout)."""
    return f"{RESULTS}/validation/saes/{sweep_key(dist, d_sae, arch)}"


def sweep_sae_dir(dist: str, d_sae: int | str, arch: str, seed: int | str) -> str:
    return f"{sweep_dir(dist, d_sae, arch)}/seed{seed}"


def sweep_metrics_file(dist: str, d_sae: int | str, arch: str) -> str:
    return f"{RESULTS}/validation/metrics/{sweep_key(dist, d_sae, arch)}.json"


CONVERGENCE_KEY = "{dist}/{arch}/{run}"
"""One run of the synthetic convergence study, below results/convergence/saes and results/convergence/metrics."""


def convergence_key(dist: str, arch: str, run: str) -> str:
    return CONVERGENCE_KEY.format(dist=dist, arch=arch, run=run)


def convergence_sae_dir(key: str = CONVERGENCE_KEY) -> str:
    return f"{RESULTS}/convergence/saes/{key}"


def convergence_metrics_file(key: str = CONVERGENCE_KEY) -> str:
    return f"{RESULTS}/convergence/metrics/{key}.json"


def table_file(name: str) -> str:
    return f"{RESULTS}/tables/{name}.csv"


def log_file(stage: str, key: str | None = None) -> str:
    """results/logs/<stage>[/<key>].log: a job's stderr (the CLI command it ran heads it)."""
    return f"{RESULTS}/logs/{stage}.log" if key is None else f"{RESULTS}/logs/{stage}/{key}.log"


def benchmark_file(stage: str, key: str | None = None) -> str:
    """results/benchmarks/<stage>[/<key>].tsv: a job's time and memory (Snakemake's benchmark:)."""
    return f"{RESULTS}/benchmarks/{stage}.tsv" if key is None else f"{RESULTS}/benchmarks/{stage}/{key}.tsv"


# The vision part (config `vision`, opt-in target results/vision; docs/vision.md). Vision sources are
# `vision-<model>-<hook>`: the prefix tells their stores apart from a language model's without the config.
VISION_PREFIX = "vision-"
VISION_SOURCE_PATTERN = f"{VISION_PREFIX}.+"
"""Wildcard constraint of the vision-only per-SAE rules."""
VISION = f"{RESULTS}/vision"
"""The opt-in target: vision_table2.csv, vision_model.csv and vision_table2.{png,pdf}, written by one job."""
VISION_WORLD = f"{RESULTS}/vision_world"
"""The toy vision world's images.parquet (rule vision_world)."""


def vision_source(model: str, hook: str) -> str:
    return f"{VISION_PREFIX}{model}-{hook}"


def split_vision_source(source: str) -> tuple[str, str]:
    """(model, hook) of `vision-<model>-<hook>`."""
    if not source.startswith(VISION_PREFIX):
        raise KeyError(f"{source!r} is not a vision source '{VISION_PREFIX}<model>-<hook>'")
    return split_lm_source(source.removeprefix(VISION_PREFIX))


def vision_store(model: str, hook: str, split: str) -> str:
    """A vision model's activations at one hook: results/vision_activations/{model}/{hook} (training) and
    results/vision_activations/{model}/heldout/{hook}, apart from the language model's stores."""
    return lm_store(model, hook, split, root="vision_activations")
