"""Example writers: one of our SAEs saved in another library's format, through that library's own classes
where it installs (sae_lens, sparsify; imported inside the functions, so this module imports without them).
A pipeline preset uses them to produce "external" SAEs whose readers (saesanity.external.load) are then
exercised end to end. dictionary_learning pins nnsight < 0.4 and does not install beside our
transformer-lens, so its writer saves the state dict under the library's own key names with torch.save and
the trainer's config.json, as its training.py does.

Each writer keeps the latents: the library's encode of the written folder equals our encode.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from saesanity.external.describe import ExternalSAEError
from saesanity.sae.base import SAE


def _params(sae: SAE) -> dict[str, torch.Tensor]:
    """Our tensors, detached, float32, contiguous (W_enc_DF is a transposed view of the parameter)."""
    return {k: v.detach().float().contiguous().clone() for k, v in sae.saelens_tensors().items()}


def _nonnegative_threshold(sae: SAE, folder: Path, library: str) -> None:
    """SAELens and dictionary_learning zero negative pre-activations even below a negative threshold
    (load.jump_threshold); ours does not, so only thresholds >= 0 keep the latents."""
    if float(sae.threshold.detach().min()) < 0:
        raise ExternalSAEError(f"{folder}: cannot write a {sae.arch} SAE with a negative threshold "
                               f"({float(sae.threshold.detach().min())}) for {library}: its latents would differ")


def write_saelens(sae: SAE, folder: str | Path, model: str | None, hook: str | None) -> None:
    """sae_lens's inference SAE for our architecture, saved with its own save_model: relu -> standard,
    topk -> topk, jumprelu -> jumprelu, batchtopk -> jumprelu with one threshold for every latent and
    metadata.training_architecture "batchtopk" (what BatchTopKTrainingSAE.save_inference_model writes)."""
    from sae_lens import (JumpReLUSAE, JumpReLUSAEConfig, StandardSAE, StandardSAEConfig, TopKSAE,
                          TopKSAEConfig)
    from sae_lens.saes.sae import SAEMetadata

    folder = Path(folder)
    cfg, tensors = sae.cfg, _params(sae)
    meta: dict[str, Any] = {"model_name": model, "hook_name": hook}
    size = {"d_in": cfg.d_in, "d_sae": cfg.d_sae, "dtype": "float32", "device": "cpu",
            "apply_b_dec_to_input": True, "normalize_activations": "none"}
    if sae.arch == "relu":
        lib = StandardSAE(StandardSAEConfig(**size, metadata=SAEMetadata(**meta)))
    elif sae.arch == "topk":
        lib = TopKSAE(TopKSAEConfig(**size, k=sae.k, rescale_acts_by_decoder_norm=False,
                                    metadata=SAEMetadata(**meta)))
    elif sae.arch in ("jumprelu", "batchtopk"):
        _nonnegative_threshold(sae, folder, "SAELens")
        if sae.arch == "batchtopk":
            meta |= {"training_architecture": "batchtopk", "training_architecture_details": {"k": sae.k}}
        lib = JumpReLUSAE(JumpReLUSAEConfig(**size, metadata=SAEMetadata(**meta)))
    else:
        raise ExternalSAEError(f"{folder}: no SAELens architecture for our {sae.arch!r}")
    lib.load_state_dict(tensors)  # strict: every SAELens parameter gets one of ours, and only those
    lib.save_model(folder)


def write_sparsify(sae: SAE, folder: str | Path) -> None:
    """sparsify's SparseCoder (TopK only: its other activation, groupmax, is no architecture of ours),
    saved with its own save_to_disk. sparsify names a coder's folder after its hook point."""
    from sparsify import SparseCoder, SparseCoderConfig

    folder = Path(folder)
    if sae.arch != "topk":
        raise ExternalSAEError(f"{folder}: sparsify stores TopK SAEs only; cannot write our {sae.arch!r}")
    t = _params(sae)
    # normalize_decoder only steers sparsify's init and training; the decoder is written as it is.
    lib = SparseCoder(sae.cfg.d_in, SparseCoderConfig(activation="topk", num_latents=sae.cfg.d_sae, k=sae.k,
                                                      normalize_decoder=False))
    lib.load_state_dict({"encoder.weight": t["W_enc"].t().contiguous(), "encoder.bias": t["b_enc"],
                         "W_dec": t["W_dec"], "b_dec": t["b_dec"]})
    lib.save_to_disk(folder)


# Our arch -> (dictionary_learning dict_class, trainer_class), as the trainers' `config` properties name them.
DICTIONARY_LEARNING = {"relu": ("AutoEncoder", "StandardTrainer"), "topk": ("AutoEncoderTopK", "TopKTrainer"),
                       "batchtopk": ("BatchTopKSAE", "BatchTopKTrainer"),
                       "jumprelu": ("JumpReluAutoEncoder", "JumpReluTrainer")}


def dictionary_learning_state(sae: SAE, folder: Path) -> dict[str, torch.Tensor]:
    """The state dict of the dictionary_learning class, under its key names and layouts
    (nn.Linear weights are [out, in])."""
    t = _params(sae)
    W_enc_FD, W_dec_DF = t["W_enc"].t().contiguous(), t["W_dec"].t().contiguous()
    if sae.arch == "relu":  # dictionary.py AutoEncoder: `bias` is subtracted in encode and added in decode
        return {"bias": t["b_dec"], "encoder.weight": W_enc_FD, "encoder.bias": t["b_enc"],
                "decoder.weight": W_dec_DF}
    if sae.arch in ("topk", "batchtopk"):
        # trainers/top_k.py, batch_top_k.py: buffers k (int32) and threshold (float32 scalar; -1 = unset, and
        # AutoEncoderTopK's default encode does not read it).
        if sae.arch == "batchtopk":
            _nonnegative_threshold(sae, folder, "dictionary_learning")
        theta = sae.threshold.detach().float().clone() if sae.arch == "batchtopk" else torch.tensor(-1.0)
        return {"k": torch.tensor(sae.k, dtype=torch.int), "threshold": theta, "decoder.weight": W_dec_DF,
                "encoder.weight": W_enc_FD, "encoder.bias": t["b_enc"], "b_dec": t["b_dec"]}
    if sae.arch == "jumprelu":
        # dictionary.py JumpReluAutoEncoder encodes x @ W_enc + b_enc (apply_b_dec_to_input False): unfold
        # our b_dec, b_enc_lib = b_enc - b_dec @ W_enc (load.fold_input_bias undoes it).
        _nonnegative_threshold(sae, folder, "dictionary_learning")
        return {"W_enc": t["W_enc"], "b_enc": t["b_enc"] - t["b_dec"] @ t["W_enc"], "W_dec": t["W_dec"],
                "b_dec": t["b_dec"], "threshold": t["threshold"]}
    raise ExternalSAEError(f"{folder}: no dictionary_learning class for our {sae.arch!r}")


def write_dictionary_learning(sae: SAE, folder: str | Path, model: str | None, layer: int | None,
                              hook: str | None = None) -> None:
    """ae.pt (torch.save of the state dict) and config.json {"trainer": ...} as dictionary_learning's
    training.py writes them; `hook` goes into the trainer's submodule_name."""
    folder = Path(folder)
    if sae.arch not in DICTIONARY_LEARNING:
        raise ExternalSAEError(f"{folder}: no dictionary_learning class for our {sae.arch!r}")
    state = dictionary_learning_state(sae, folder)
    dict_class, trainer_class = DICTIONARY_LEARNING[sae.arch]
    trainer = {"dict_class": dict_class, "trainer_class": trainer_class, "activation_dim": sae.cfg.d_in,
               "dict_size": sae.cfg.d_sae, "seed": sae.cfg.seed, "device": "cpu", "layer": layer,
               "lm_name": model, "submodule_name": hook, "wandb_name": f"saesanity_{sae.arch}"}
    if sae.arch in ("topk", "batchtopk"):
        trainer["k"] = sae.k
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(state, folder / "ae.pt")
    # training.py: config = {"trainer": trainer.config}, plus "buffer" when the data has a config; ours does not.
    (folder / "config.json").write_text(json.dumps({"trainer": trainer}, indent=4) + "\n")
