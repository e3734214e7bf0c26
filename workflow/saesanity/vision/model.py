"""The vision-model adapter: the only module that touches a vision transformer's internals (ours or
transformers' CLIPVisionModel).

Everything else sees a `VisionModel`: uint8 images [N, H, W, 3] in, the activations at one hook out
([N, T, d], token 0 the CLS token, then the patches row-major), or the model's output with the activations
at a hook replaced, and a downstream loss on that output. Two kinds:
- 'toyvit': a small ViT (patch tokens, learned positions, CLS, pre-LayerNorm blocks) trained here by
  saesanity.vision.train_vit on the toy vision world; its output is one logit per binary image label plus
  a `count` head, its loss their mean cross-entropy.
- 'clip': a Hugging Face CLIPVisionModel from a local folder (save_pretrained); its output is the pooled
  image embedding, its loss 1 - cos(embedding, the clean image's embedding), so the clean loss is 0.

Hooks are `blocks.<L>.hook_resid_pre`: the residual stream entering block L (CLIP: hidden_states[L]).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from saesanity.atomic import atomic_path
from saesanity.config import ConfigError, _check
from saesanity.lm.model import resolve_device

MODEL_WEIGHTS, MODEL_CONFIG = "model.safetensors", "config.json"
KINDS = ("toyvit", "clip")
HOOK = re.compile(r"blocks\.(\d+)\.hook_resid_pre")
# CLIP's preprocessing constants (transformers' OPENAI_CLIP_MEAN / OPENAI_CLIP_STD), used when the
# checkpoint folder has no preprocessor_config.json.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
CLIP_DOWNLOAD = ("On a machine with network run: python -c \"from transformers import CLIPVisionModel, "
                 "CLIPImageProcessor; n = 'openai/clip-vit-base-patch32'; "
                 "CLIPVisionModel.from_pretrained(n).save_pretrained('models/clip-vit-base-patch32'); "
                 "CLIPImageProcessor.from_pretrained(n).save_pretrained('models/clip-vit-base-patch32')\" "
                 "and copy the folder here; then set vision.clip_model to it (presets/clip.yaml).")

Replace = Callable[[torch.Tensor], torch.Tensor]


class VisionModelNotAvailable(RuntimeError):
    """The CLIP checkpoint folder is missing or is not a CLIPVisionModel."""


@dataclass(frozen=True)
class ToyViTConfig:
    """A small vision transformer on the toy world's images."""

    image_size: int = 32
    patch_size: int = 4
    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    d_mlp: int = 256

    def __post_init__(self) -> None:
        for key in ("image_size", "patch_size", "d_model", "n_layers", "n_heads", "d_mlp"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.image_size % self.patch_size == 0, "patch_size", f"must divide image_size ({self.image_size})")
        _check(self.d_model % self.n_heads == 0, "n_heads", f"must divide d_model ({self.d_model})")

    @property
    def n_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2


@dataclass(frozen=True)
class VisionSpec:
    """Which vision model a job loads."""

    kind: str
    """'toyvit' (a folder written by train_vit) or 'clip' (a local CLIPVisionModel folder)."""
    path: str
    device: str = "cpu"
    """'auto' = cuda when available, else cpu; or any torch device string."""

    def __post_init__(self) -> None:
        _check(self.kind in KINDS, "kind", f"must be one of {list(KINDS)}, got {self.kind!r}")


class _Block(nn.Module):
    def __init__(self, cfg: ToyViTConfig):
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(cfg.d_model, cfg.d_mlp), nn.GELU(), nn.Linear(cfg.d_mlp, cfg.d_model))

    def forward(self, x_BTD: torch.Tensor) -> torch.Tensor:
        h = self.ln1(x_BTD)
        x_BTD = x_BTD + self.attn(h, h, h, need_weights=False)[0]
        return x_BTD + self.mlp(self.ln2(x_BTD))


class ToyViT(nn.Module):
    """Patches -> linear embedding, a CLS token and learned positions, pre-LN blocks, a final LayerNorm and
    one linear head on CLS: `n_labels` binary logits, then `n_counts` logits of the object count."""

    def __init__(self, cfg: ToyViTConfig, n_labels: int, n_counts: int):
        super().__init__()
        self.cfg, self.n_labels, self.n_counts = cfg, n_labels, n_counts
        p = cfg.patch_size
        self.patch = nn.Linear(p * p * 3, cfg.d_model)
        self.cls = nn.Parameter(torch.zeros(1, 1, cfg.d_model))
        self.pos = nn.Parameter(torch.randn(1, cfg.n_patches + 1, cfg.d_model) * 0.02)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, n_labels + n_counts)

    def embed(self, x_BHW3: torch.Tensor) -> torch.Tensor:
        """Pixels in [-0.5, 0.5] -> tokens [B, 1 + patches, d]."""
        B, H, W, _ = x_BHW3.shape
        p = self.cfg.patch_size
        patches = x_BHW3.reshape(B, H // p, p, W // p, p, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, -1, p * p * 3)
        return torch.cat([self.cls.expand(B, -1, -1), self.patch(patches)], 1) + self.pos

    def forward(self, x_BHW3: torch.Tensor, layer: int | None = None, replace: Replace | None = None,
                stop: bool = False) -> torch.Tensor:
        """Logits [B, n_labels + n_counts]; with `layer`, the residual stream entering that block is replaced by
        `replace(x)` or, with `stop`, returned as is without running the rest."""
        x = self.embed(x_BHW3)
        for i, block in enumerate(self.blocks):
            if i == layer:
                if stop:
                    return x
                if replace is not None:
                    x = replace(x)
            x = block(x)
        return self.head(self.ln_f(x[:, 0]))


def hook_layer(hook: str, n_layers: int, name: str) -> int:
    m = HOOK.fullmatch(hook)
    if not m or int(m.group(1)) >= n_layers:
        raise ConfigError(f"hook {hook!r} is not a hook point of {name}: blocks.<L>.hook_resid_pre with L in "
                          f"0..{n_layers - 1}")
    return int(m.group(1))


def _clip_layers(model: nn.Module) -> nn.ModuleList:
    """CLIP's encoder blocks: transformers 5 holds them at model.encoder, earlier versions at
    model.vision_model.encoder."""
    return getattr(model, "vision_model", model).encoder.layers


class VisionModel:
    """One interface over both kinds: activations at a hook, outputs with a hook replaced, a loss on them."""

    def __init__(self, kind: str, model: nn.Module, name: str, image_size: int, patch_size: int, d_model: int,
                 n_layers: int, mean: tuple[float, ...] = (0.5, 0.5, 0.5), std: tuple[float, ...] = (1.0, 1.0, 1.0)):
        self.kind, self.model, self.name = kind, model.eval(), name
        self.image_size, self.patch_size, self.d_model, self.n_layers = image_size, patch_size, d_model, n_layers
        self._mean, self._std = torch.tensor(mean), torch.tensor(std)

    @property
    def n_tokens(self) -> int:
        """CLS plus one token per patch."""
        return (self.image_size // self.patch_size) ** 2 + 1

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def check_images(self, pixels_NHW3: np.ndarray) -> None:
        want = (self.image_size, self.image_size, 3)
        if pixels_NHW3.ndim != 4 or pixels_NHW3.shape[1:] != want or pixels_NHW3.dtype != np.uint8:
            raise ConfigError(f"{self.name} takes uint8 images of shape [N, {want[0]}, {want[1]}, 3], got "
                              f"{pixels_NHW3.dtype} {list(pixels_NHW3.shape)}")

    def inputs(self, pixels_NHW3: np.ndarray) -> torch.Tensor:
        """Pixels scaled to [0, 1] and normalised with the model's mean and std: [N, H, W, 3] for ours,
        [N, 3, H, W] for CLIP."""
        self.check_images(pixels_NHW3)
        x = (torch.from_numpy(np.array(pixels_NHW3, dtype=np.float32)) / 255 - self._mean) / self._std
        return (x if self.kind == "toyvit" else x.permute(0, 3, 1, 2).contiguous()).to(self.device)

    @torch.no_grad()
    def activations(self, pixels_NHW3: np.ndarray, hook: str) -> torch.Tensor:
        """[N, T, d] activations entering the hook's block (token 0: CLS), running only the blocks before it."""
        layer = hook_layer(hook, self.n_layers, self.name)
        x = self.inputs(pixels_NHW3)
        if self.kind == "toyvit":
            return self.model(x, layer=layer, stop=True)
        captured = {}

        class _Stop(Exception):
            pass

        def grab(module, args, kwargs):
            captured["x"] = args[0] if args else kwargs["hidden_states"]
            raise _Stop

        handle = _clip_layers(self.model)[layer].register_forward_pre_hook(grab, with_kwargs=True)
        try:
            self.model(pixel_values=x)
        except _Stop:
            pass
        finally:
            handle.remove()
        return captured["x"]

    @torch.no_grad()
    def outputs(self, pixels_NHW3: np.ndarray, hook: str | None = None, replace: Replace | None = None) -> torch.Tensor:
        """The model's output (toyvit: logits; clip: pooled embedding), with the activations entering the hook's
        block ([N, T, d]) replaced by `replace(activations)` when both are given."""
        x = self.inputs(pixels_NHW3)
        layer = None if hook is None else hook_layer(hook, self.n_layers, self.name)
        if self.kind == "toyvit":
            return self.model(x, layer=layer, replace=replace)
        handle = None
        if layer is not None and replace is not None:
            def swap(module, args, kwargs):
                if args:
                    return (replace(args[0]), *args[1:]), kwargs
                return args, {**kwargs, "hidden_states": replace(kwargs["hidden_states"])}
            handle = _clip_layers(self.model)[layer].register_forward_pre_hook(swap, with_kwargs=True)
        try:
            return self.model(pixel_values=x).pooler_output
        finally:
            if handle is not None:
                handle.remove()

    def downstream(self, out: torch.Tensor, clean: torch.Tensor, targets: tuple[np.ndarray, np.ndarray] | None
                   ) -> tuple[np.ndarray, np.ndarray | None]:
        """Per image: the loss of an output and, where the model has labels, the fraction of its heads it gets
        right. toyvit: mean over the binary labels' BCE and the count head's CE (targets: labels [N, L], counts
        [N] from 1); clip: 1 - cos(out, clean)."""
        if self.kind == "clip":
            return (1 - F.cosine_similarity(out.float(), clean.float(), dim=-1)).cpu().numpy().astype(np.float64), None
        labels_NL, counts_N = (torch.from_numpy(np.asarray(t)) for t in targets)
        n_labels = labels_NL.shape[1]
        logits = out.float().cpu()
        bce_NL = F.binary_cross_entropy_with_logits(logits[:, :n_labels], labels_NL.float(), reduction="none")
        ce_N = F.cross_entropy(logits[:, n_labels:], counts_N.long() - 1, reduction="none")
        loss_N = (bce_NL.sum(1) + ce_N) / (n_labels + 1)
        right_NL = (logits[:, :n_labels] > 0) == (labels_NL > 0.5)
        right_N = logits[:, n_labels:].argmax(1) == counts_N.long() - 1
        acc_N = (right_NL.sum(1) + right_N) / (n_labels + 1)
        return loss_N.double().numpy(), acc_N.double().numpy()


def save_toy_vit(model: ToyViT, folder: str | Path, extra: dict) -> None:
    """model.safetensors and config.json (our ToyViTConfig, the head sizes and `extra`), in one atomic rename."""
    from safetensors.torch import save_file
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(tmp / MODEL_WEIGHTS))
        meta = {"model": dataclasses.asdict(model.cfg), "n_labels": model.n_labels, "n_counts": model.n_counts,
                **extra}
        (tmp / MODEL_CONFIG).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")


def load_toy_vit(folder: str | Path, device: str = "cpu") -> VisionModel:
    from safetensors.torch import load_file

    from saesanity.config import from_dict
    folder = Path(folder)
    for name in (MODEL_WEIGHTS, MODEL_CONFIG):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; not a toy ViT folder (rule train_vit)")
    meta = json.loads((folder / MODEL_CONFIG).read_text())
    cfg = from_dict(ToyViTConfig, meta["model"], "vision.model")
    model = ToyViT(cfg, meta["n_labels"], meta["n_counts"])
    model.load_state_dict(load_file(str(folder / MODEL_WEIGHTS)))
    model.to(resolve_device(device))
    return VisionModel("toyvit", model, folder.name, cfg.image_size, cfg.patch_size, cfg.d_model, cfg.n_layers)


def clip_config(folder: str | Path) -> dict:
    """The vision part of a CLIP checkpoint's config.json (a CLIPVisionModel's, or a full CLIPModel's
    vision_config), read without torch: image_size, patch_size, hidden_size, num_hidden_layers."""
    path = Path(folder) / MODEL_CONFIG
    if not path.is_file():
        raise VisionModelNotAvailable(f"no CLIP vision checkpoint at {folder!r} (no {MODEL_CONFIG}). {CLIP_DOWNLOAD}")
    raw = json.loads(path.read_text())
    raw = raw.get("vision_config", raw)
    missing = [k for k in ("image_size", "patch_size", "hidden_size", "num_hidden_layers") if k not in raw]
    if missing:
        raise VisionModelNotAvailable(f"{path}: not a CLIP vision config (missing {missing}). {CLIP_DOWNLOAD}")
    return raw


def load_clip(folder: str | Path, device: str = "cpu") -> VisionModel:
    """A CLIPVisionModel saved with save_pretrained (local files only: the pipeline never downloads), with the
    image mean and std of its preprocessor_config.json when there is one."""
    cfg = clip_config(folder)
    from transformers import CLIPVisionModel
    try:
        model = CLIPVisionModel.from_pretrained(str(folder), local_files_only=True)
    except Exception as err:  # missing or broken weights come as several exception types
        raise VisionModelNotAvailable(f"could not load a CLIPVisionModel from {folder!r} ({type(err).__name__}: "
                                      f"{' '.join(str(err).split())[:300]}). {CLIP_DOWNLOAD}") from err
    mean, std = CLIP_MEAN, CLIP_STD
    pre = Path(folder) / "preprocessor_config.json"
    if pre.is_file():
        raw = json.loads(pre.read_text())
        mean, std = tuple(raw.get("image_mean", mean)), tuple(raw.get("image_std", std))
    model.to(resolve_device(device))
    return VisionModel("clip", model, Path(folder).name, cfg["image_size"], cfg["patch_size"], cfg["hidden_size"],
                       cfg["num_hidden_layers"], mean, std)


def load_vision_model(spec: VisionSpec) -> VisionModel:
    if spec.kind == "toyvit":
        return load_toy_vit(spec.path, spec.device)
    return load_clip(spec.path, spec.device)
