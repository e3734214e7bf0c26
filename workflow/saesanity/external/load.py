"""Builds our SAE from an external folder (saesanity.external.describe) so that its `encode` and `decode` give
the library's latents and reconstruction.

Each format's tensors are renamed and transposed into our layout (W_enc [d_in, d_sae], b_enc [d_sae],
W_dec [d_sae, d_in], b_dec [d_in], threshold [d_sae]); where the library's forward differs from ours
(pre = (x - b_dec) @ W_enc + b_enc) by something a linear encoder holds, it is folded into the weights
here, and every fold says which line of the library it matches. W_dec keeps its norms: a loaded SAE's
decoder rows need not be unit norm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from saesanity.config import SAEConfig
from saesanity.external.describe import FILES, ExternalInfo, ExternalSAEError, describe, read_config
from saesanity.sae.base import SAE
from saesanity.sae.registry import build_sae

Tensors = dict[str, torch.Tensor]


def read_tensors(folder: Path, fmt: str) -> Tensors:
    path = folder / FILES[fmt][1]
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file
            return load_file(str(path))
        # dictionary_learning saves `{k: v.cpu() for k, v in ae.state_dict().items()}` with torch.save
        # (training.py); weights_only refuses anything but tensors and plain containers.
        tensors = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: safetensors and pickle raise many kinds
        raise ExternalSAEError(f"{folder}: cannot read {path.name}: {err}") from None
    if not isinstance(tensors, dict) or not all(isinstance(v, torch.Tensor) for v in tensors.values()):
        raise ExternalSAEError(f"{folder}: {path.name} is not a state dict of tensors")
    return tensors


def expected_shapes(info: ExternalInfo, cfg: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """The tensors the format stores for this architecture, in the file's own names and layout."""
    D, F = info.d_in, info.d_sae
    if info.format == "saelens":
        # sae_lens/saes/{standard,topk,jumprelu}_sae.py: initialize_weights; a BatchTopK training checkpoint
        # keeps its threshold as the scalar buffer topk_threshold (batchtopk_sae.py), the inference form as
        # a per-latent JumpReLU threshold.
        shapes = {"W_enc": (D, F), "b_enc": (F,), "W_dec": (F, D), "b_dec": (D,)}
        if cfg.get("architecture") == "batchtopk":
            shapes["topk_threshold"] = ()
        elif info.arch in ("jumprelu", "batchtopk"):
            shapes["threshold"] = (F,)
        return shapes
    if info.format == "sparsify":
        # sparsify/sparse_coder.py: encoder = nn.Linear(d_in, num_latents); W_dec [num_latents, d_in]
        return {"encoder.weight": (F, D), "encoder.bias": (F,), "W_dec": (F, D), "b_dec": (D,)}
    # dictionary_learning: nn.Linear weights are [out, in].
    if info.arch == "relu":  # dictionary.py: AutoEncoder; `bias` is the decoder bias, subtracted in encode
        return {"bias": (D,), "encoder.weight": (F, D), "encoder.bias": (F,), "decoder.weight": (D, F)}
    if info.arch in ("topk", "batchtopk"):  # trainers/top_k.py: AutoEncoderTopK; batch_top_k.py: BatchTopKSAE
        return {"encoder.weight": (F, D), "encoder.bias": (F,), "decoder.weight": (D, F), "b_dec": (D,),
                "k": (), "threshold": ()}
    # dictionary.py: JumpReluAutoEncoder
    return {"W_enc": (D, F), "b_enc": (F,), "W_dec": (F, D), "b_dec": (D,), "threshold": (F,)}


def check_tensors(info: ExternalInfo, tensors: Tensors, shapes: dict[str, tuple[int, ...]]) -> Tensors:
    """The expected tensors as float32, after refusing missing ones, shapes that disagree with the config
    and non-finite values (each error names the tensor)."""
    folder, weights, config = info.folder, FILES[info.format][1], FILES[info.format][0]
    missing = [name for name in shapes if name not in tensors]
    if missing:
        raise ExternalSAEError(f"{folder}: {weights} lacks tensor(s) {missing} that a {info.format} {info.arch} "
                               f"SAE stores; it holds {sorted(tensors)}")
    out = {}
    for name, shape in shapes.items():
        t = tensors[name]
        if tuple(t.shape) != shape:
            raise ExternalSAEError(f"{folder}: tensor {name!r} in {weights} has shape {list(t.shape)}, but "
                                   f"{config} says {list(shape)} (d_in {info.d_in}, d_sae {info.d_sae})")
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise ExternalSAEError(f"{folder}: tensor {name!r} in {weights} has NaN or infinite values")
        out[name] = t.detach().to(torch.float64 if name == "topk_threshold" else torch.float32)
    return out


def fold_input_bias(W_enc_DF: torch.Tensor, b_enc_F: torch.Tensor, b_dec_D: torch.Tensor) -> torch.Tensor:
    """b_enc for a library that does not subtract b_dec from the input: x @ W_enc + b_enc equals our
    (x - b_dec) @ W_enc + b_enc' with b_enc' = b_enc + b_dec @ W_enc."""
    return b_enc_F + b_dec_D @ W_enc_DF


def jump_threshold(theta: torch.Tensor) -> torch.Tensor:
    """Our JumpReLU/BatchTopK give pre * 1[pre > theta]; SAELens (jumprelu_sae.py: relu(pre) * (pre > theta))
    and dictionary_learning (dictionary.py: relu(pre * (pre > theta)); batch_top_k.py: relu(pre) *
    (relu(pre) > theta)) also zero negative pre-activations. The two agree for theta >= 0 and, for theta < 0,
    when theta is replaced by 0, so max(theta, 0) gives the library's latents for every theta."""
    return theta.clamp(min=0)


def from_saelens(info: ExternalInfo, cfg: dict[str, Any], t: Tensors) -> Tensors:
    W_enc, b_enc, W_dec, b_dec = t["W_enc"], t["b_enc"], t["W_dec"], t["b_dec"]
    if cfg.get("rescale_acts_by_decoder_norm") and cfg.get("architecture") in ("topk", "batchtopk"):
        # topk_sae.py: encode selects among hidden_pre * ||W_dec row|| and decode divides the latents by the
        # norm again; scaling the encoder by the norms and the decoder by their inverse is the same map
        # (what SAELens's own _fold_norm_topk does when it saves the inference form). The BatchTopK
        # threshold is in the rescaled units already (batchtopk_sae.py), so it stays.
        n_F = W_dec.norm(dim=-1)
        W_enc, b_enc, W_dec = W_enc * n_F, b_enc * n_F, W_dec / n_F[:, None]
    if cfg.get("apply_b_dec_to_input", True) is False:
        # sae.py: process_sae_in subtracts b_dec * apply_b_dec_to_input; without it pre = x @ W_enc + b_enc.
        b_enc = fold_input_bias(W_enc, b_enc, b_dec)
    out = {"W_enc": W_enc, "b_enc": b_enc, "W_dec": W_dec, "b_dec": b_dec}
    if "topk_threshold" in t:
        # batchtopk_sae.py: the inference form is JumpReLU with threshold topk_threshold for every latent.
        out["threshold"] = jump_threshold(t["topk_threshold"].float()).expand(info.d_sae).clone()
    elif "threshold" in t:
        out["threshold"] = jump_threshold(t["threshold"])
    return out


def from_sparsify(info: ExternalInfo, cfg: dict[str, Any], t: Tensors) -> Tensors:
    # sparse_coder.py: encode subtracts b_dec unless transcode (refused by describe), then
    # fused_encoder.py: topk(relu(x @ encoder.weight.T + encoder.bias)) -- the top k of ReLU(pre) are
    # ReLU of the top k of pre, our TopK; decode adds b_dec to top_acts @ W_dec rows.
    return {"W_enc": t["encoder.weight"].t(), "b_enc": t["encoder.bias"], "W_dec": t["W_dec"], "b_dec": t["b_dec"]}


def from_dictionary_learning(info: ExternalInfo, cfg: dict[str, Any], t: Tensors) -> Tensors:
    if info.arch == "relu":
        # dictionary.py AutoEncoder: encode relu(encoder(x - bias)), decode decoder(f) + bias. Its
        # from_pretrained rescales latents by the decoder norms unless normalize_decoder=False; we keep the
        # weights as saved (a no-op when the decoder columns are unit norm, as StandardTrainer keeps them).
        return {"W_enc": t["encoder.weight"].t(), "b_enc": t["encoder.bias"], "W_dec": t["decoder.weight"].t(),
                "b_dec": t["bias"]}
    if info.arch == "jumprelu":
        # dictionary.py JumpReluAutoEncoder: __init__ sets apply_b_dec_to_input = False (an attribute, not in
        # the state dict), so encode computes x @ W_enc + b_enc: fold b_dec into b_enc.
        return {"W_enc": t["W_enc"], "b_enc": fold_input_bias(t["W_enc"], t["b_enc"], t["b_dec"]),
                "W_dec": t["W_dec"], "b_dec": t["b_dec"], "threshold": jump_threshold(t["threshold"])}
    if int(t["k"]) != info.k:
        raise ExternalSAEError(f"{info.folder}: tensor 'k' in ae.pt is {int(t['k'])}, but config.json says "
                               f"k {info.k}")
    # trainers/top_k.py and batch_top_k.py: encode relu(encoder(x - b_dec)), decode decoder(f) + b_dec.
    out = {"W_enc": t["encoder.weight"].t(), "b_enc": t["encoder.bias"], "W_dec": t["decoder.weight"].t(),
           "b_dec": t["b_dec"]}
    if info.arch == "batchtopk":
        # batch_top_k.py: encode defaults to use_threshold=True, relu(pre) * (relu(pre) > threshold); the
        # threshold stays -1 until training sets it, which makes it a plain ReLU (jump_threshold gives 0).
        # AutoEncoderTopK's threshold is used only with use_threshold=True, which its encode defaults off.
        out["threshold"] = jump_threshold(t["threshold"]).expand(info.d_sae).clone()
    return out


CONVERTERS = {"saelens": from_saelens, "sparsify": from_sparsify, "dictionary_learning": from_dictionary_learning}


def load_external(folder: str | Path, info: ExternalInfo | None = None) -> SAE:
    """Our SAE (in eval mode) holding an external folder's SAE: its encode/decode give the library's latents
    and reconstruction. target_l0 is k where the files state it, else d_sae as a placeholder the caller
    replaces (dataclasses.replace on sae.cfg)."""
    folder = Path(folder)
    info = info or describe(folder)
    cfg = read_config(folder, info.format)
    tensors = check_tensors(info, read_tensors(folder, info.format), expected_shapes(info, cfg))
    ours = CONVERTERS[info.format](info, cfg, tensors)
    sae = build_sae(SAEConfig(info.arch, info.d_in, info.d_sae, target_l0=info.k or info.d_sae, variant="trained"))
    if info.arch == "batchtopk":
        theta_F = ours["threshold"]
        if not bool((theta_F == theta_F[0]).all()):
            raise ExternalSAEError(f"{folder}: a BatchTopK SAE has one threshold for every latent, but this "
                                   f"one's threshold varies from {float(theta_F.min())} to {float(theta_F.max())}")
    sae.load_saelens_tensors({k: v.contiguous() for k, v in ours.items()})
    return sae.eval()
