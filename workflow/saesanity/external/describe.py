"""What an external SAE folder holds, read from its file names and config alone.

No torch here (only json, pathlib, dataclasses): the Snakefile calls `describe` while it builds the DAG.
Each format is recognised by the files its library writes:
  saelens             cfg.json + sae_weights.safetensors  (sae_lens/saes/sae.py: SAE.save_model)
  sparsify            cfg.json + sae.safetensors          (sparsify/sparse_coder.py: SparseCoder.save_to_disk)
  dictionary_learning ae.pt + config.json                 (dictionary_learning/training.py: trainSAE)
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMATS = ("saelens", "sparsify", "dictionary_learning")
ARCHS = ("relu", "topk", "batchtopk", "jumprelu")
"""Our architectures (saesanity.sae.registry), repeated here so that this module needs no torch."""

FILES = {
    "saelens": ("cfg.json", "sae_weights.safetensors"),
    "sparsify": ("cfg.json", "sae.safetensors"),
    "dictionary_learning": ("config.json", "ae.pt"),
}
"""Per format: (config file, weights file)."""

SAELENS_ARCHS = {"standard": "relu", "topk": "topk", "jumprelu": "jumprelu", "batchtopk": "batchtopk"}
"""SAELens's cfg["architecture"] -> ours. "batchtopk" only appears in a training checkpoint
(BatchTopKTrainingSAE.save_model); SAELens saves BatchTopK for inference as "jumprelu" with one threshold
for every latent (sae_lens/saes/batchtopk_sae.py: process_state_dict_for_saving_inference), recognised by
metadata.training_architecture == "batchtopk"."""

DICTIONARY_LEARNING_CLASSES = {"AutoEncoder": "relu", "AutoEncoderTopK": "topk", "BatchTopKSAE": "batchtopk",
                               "JumpReluAutoEncoder": "jumprelu"}
"""dictionary_learning's trainer config "dict_class" -> ours (dictionary_learning/dictionary.py,
trainers/top_k.py, trainers/batch_top_k.py)."""


class ExternalSAEError(ValueError):
    """An external SAE folder we cannot read exactly; the message names the folder and the problem."""


@dataclass(frozen=True)
class ExternalInfo:
    folder: str
    format: str
    """One of FORMATS."""
    arch: str
    """Our architecture name (relu, topk, batchtopk, jumprelu)."""
    d_in: int
    d_sae: int
    k: int | None
    """k of topk/batchtopk where the files state it, else None."""
    model: str | None
    """The language model, as the SAE's own config states it, else None."""
    hook: str | None
    """The hook point / submodule, as the SAE's own config (or sparsify's folder name) states it, else None."""


def detect_format(folder: str | Path) -> str:
    folder = Path(folder)
    if not folder.is_dir():
        raise ExternalSAEError(f"{folder}: not a folder")
    found = [fmt for fmt, names in FILES.items() if all((folder / n).is_file() for n in names)]
    if not found:
        expected = "; ".join(f"{fmt}: {' + '.join(names)}" for fmt, names in FILES.items())
        present = sorted(p.name for p in folder.iterdir())
        raise ExternalSAEError(f"{folder}: in none of the formats we read ({expected}); it holds {present}")
    return found[0]  # the three pairs of names are disjoint in their weights file, so at most one matches


def read_json(path: Path, folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ExternalSAEError(f"{folder}: cannot read {path.name}: {err}") from None
    if not isinstance(data, dict):
        raise ExternalSAEError(f"{folder}: {path.name} is not a JSON object")
    return data


def read_config(folder: str | Path, fmt: str | None = None) -> dict[str, Any]:
    """The format's config file as a dict."""
    folder = Path(folder)
    fmt = fmt or detect_format(folder)
    return read_json(folder / FILES[fmt][0], folder)


def _need(cfg: dict[str, Any], key: str, kind: type, folder: Path, where: str) -> Any:
    value = cfg.get(key)
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise ExternalSAEError(f"{folder}: {where} has no {kind.__name__} {key!r} (got {value!r})")
    return value


def _unsupported(folder: Path, what: str, name: Any, supported: Any) -> ExternalSAEError:
    return ExternalSAEError(f"{folder}: {what} {name!r} has no exact counterpart among our architectures "
                            f"{list(ARCHS)}; supported: {list(supported)}")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_k(value: Any, folder: Path, where: str) -> int:
    """k as an int; SAELens's BatchTopK k is a float (the mean L0), an integral one is accepted."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < 1:
        raise ExternalSAEError(f"{folder}: {where} k must be a positive integer, got {value!r}")
    return int(value)


# normalize_activations values (sae_lens/saes/sae.py: SAEConfig) and why we refuse all but "none".
SAELENS_NORMALIZATION_REFUSED = {
    "expected_average_only_in": "the weights expect activations times a scaling factor that is not stored with "
    "them (SAELens's trainer folds it into the weights when training ends and writes 'none'; "
    "sae.fold_activation_norm_scaling_factor(factor) then save_model gives a folder we read)",
    "covariance_whitening": "the weights expect whitened activations, and the whitening is not stored with them "
    "(SAELens's trainer folds it when training ends and writes 'none'; sae.fold_activation_whitening)",
    "constant_norm_rescale": "every input row is rescaled to norm sqrt(d_in) and the output back, a per-row "
    "nonlinear map that a linear encoder cannot hold",
    "layer_norm": "every input row is layer-normalised and the output denormalised, a per-row nonlinear map "
    "that a linear encoder cannot hold",
}


def describe_saelens(folder: Path, cfg: dict[str, Any]) -> ExternalInfo:
    # Before SAELens 6 there was no "architecture" key and "standard" was implied
    # (sae_lens/loading/pretrained_sae_loaders.py: handle_pre_6_0_config); model and hook were top-level keys.
    name = cfg.get("architecture", "standard")
    meta = cfg.get("metadata") if isinstance(cfg.get("metadata"), dict) else {}
    if name == "standard" and cfg.get("activation_fn", "relu") == "topk":  # pre-6 TopK
        name, cfg = "topk", {**cfg, "k": (cfg.get("activation_fn_kwargs") or {}).get("k")}
    elif name == "standard" and cfg.get("activation_fn", "relu") != "relu":
        raise _unsupported(folder, "SAELens activation_fn", cfg.get("activation_fn"), ["relu", "topk"])
    if name not in SAELENS_ARCHS:
        raise _unsupported(folder, "SAELens architecture", name, SAELENS_ARCHS)
    norm = cfg.get("normalize_activations", "none")
    if norm not in (None, "none"):
        reason = SAELENS_NORMALIZATION_REFUSED.get(norm, "not a value SAELens 6.54 knows")
        raise ExternalSAEError(f"{folder}: SAELens normalize_activations {norm!r} is not supported: {reason}")
    if cfg.get("finetuning_scaling_factor"):  # pre-6: latents scaled by a learnt vector
        raise ExternalSAEError(f"{folder}: SAELens finetuning_scaling_factor true is not supported")
    arch, k = SAELENS_ARCHS[name], None
    details = meta.get("training_architecture_details") or {}
    if name == "jumprelu" and meta.get("training_architecture") == "batchtopk":
        arch, k = "batchtopk", _int_k(details.get("k"), folder, "metadata.training_architecture_details")
    elif arch in ("topk", "batchtopk"):
        k = _int_k(cfg.get("k"), folder, "cfg.json")
    model = meta.get("model_name", cfg.get("model_name"))
    hook = meta.get("hook_name", cfg.get("hook_name", cfg.get("hook_point")))
    return ExternalInfo(str(folder), "saelens", arch, _need(cfg, "d_in", int, folder, "cfg.json"),
                        _need(cfg, "d_sae", int, folder, "cfg.json"), k, _str_or_none(model), _str_or_none(hook))


def describe_sparsify(folder: Path, cfg: dict[str, Any]) -> ExternalInfo:
    # sparsify/config.py: SparseCoderConfig; the cfg.json adds d_in (sparse_coder.py: save_to_disk).
    activation = cfg.get("activation", "topk")
    if activation != "topk":  # groupmax: the max of each of k groups, not a top-k over all latents
        raise _unsupported(folder, "sparsify activation", activation, ["topk"])
    if cfg.get("transcode"):  # predicts another module's output: not an autoencoder of its input
        raise ExternalSAEError(f"{folder}: sparsify transcode true (a transcoder) is not supported: our SAEs "
                               "reconstruct their own input, and sparsify then does not subtract b_dec")
    if cfg.get("skip_connection"):
        raise ExternalSAEError(f"{folder}: sparsify skip_connection true is not supported: its output adds "
                               "x @ W_skip.T, which our decoder has no term for")
    d_in = _need(cfg, "d_in", int, folder, "cfg.json")
    # sparse_coder.py: num_latents = cfg.num_latents or d_in * cfg.expansion_factor
    d_sae = cfg.get("num_latents") or d_in * cfg.get("expansion_factor", 32)
    # The trainer saves each hook's coder in <run>/<hookpoint>/ and its TrainConfig (with "model" when run
    # from sparsify's CLI, __main__.py: RunConfig) in <run>/config.json (trainer.py: _checkpoint).
    model = None
    run_cfg = folder.parent / "config.json"
    if run_cfg.is_file():
        try:
            model = _str_or_none(json.loads(run_cfg.read_text()).get("model"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            model = None
    return ExternalInfo(str(folder), "sparsify", "topk", d_in, d_sae, _int_k(cfg.get("k", 32), folder, "cfg.json"),
                        model, folder.name)


def describe_dictionary_learning(folder: Path, cfg: dict[str, Any]) -> ExternalInfo:
    # training.py writes {"trainer": trainer.config, "buffer": buffer.config}; trainer.config is each
    # trainer's `config` property (trainers/standard.py, top_k.py, batch_top_k.py, jumprelu.py).
    trainer = cfg.get("trainer")
    if not isinstance(trainer, dict):
        raise ExternalSAEError(f"{folder}: config.json has no 'trainer' section (not a dictionary_learning config)")
    dict_class = trainer.get("dict_class")
    if dict_class not in DICTIONARY_LEARNING_CLASSES:
        raise _unsupported(folder, "dictionary_learning dict_class", dict_class, DICTIONARY_LEARNING_CLASSES)
    arch = DICTIONARY_LEARNING_CLASSES[dict_class]
    k = _int_k(trainer.get("k"), folder, "config.json trainer") if arch in ("topk", "batchtopk") else None
    return ExternalInfo(str(folder), "dictionary_learning", arch,
                        _need(trainer, "activation_dim", int, folder, "config.json trainer"),
                        _need(trainer, "dict_size", int, folder, "config.json trainer"), k,
                        _str_or_none(trainer.get("lm_name")), _str_or_none(trainer.get("submodule_name")))


DESCRIBERS = {"saelens": describe_saelens, "sparsify": describe_sparsify,
              "dictionary_learning": describe_dictionary_learning}


def describe(folder: str | Path) -> ExternalInfo:
    """The format, our architecture, sizes, k, model and hook of an external SAE folder; ExternalSAEError
    (naming the folder and the problem) when it is in none of FORMATS or cannot be matched exactly."""
    folder = Path(folder)
    fmt = detect_format(folder)
    return DESCRIBERS[fmt](folder, read_config(folder, fmt))
