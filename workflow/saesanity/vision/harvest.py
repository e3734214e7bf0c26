"""Harvesting a vision model: the activations at one hook of every token of every image (CLS and each patch)
into an activation store (docs/design.md, Contracts: column `act`, plus `image` (int64, the image's id) and
`patch` (int32: 0 the CLS token, 1.. the patches row-major), in (image, patch) order; meta.json with model,
hook, d, dtype, count, tokens per image). The store appears only when complete."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from saesanity.atomic import atomic_path
from saesanity.config import _check
from saesanity.data.store import ShardWriter
from saesanity.lm.harvest import RowBuffer
from saesanity.vision.images import ImageSet, ImageSource, load_images
from saesanity.vision.model import VisionModel, VisionSpec, load_vision_model

CLS = 0
"""The `patch` index of the CLS token."""


@dataclass(frozen=True)
class VisionHarvestConfig:
    n_train_images: int = 4000
    """Images of the training split to harvest (all when the split is smaller)."""
    n_heldout_images: int = 1000
    batch_images: int = 64
    shard_rows: int = 131_072
    dtype: str = "float32"

    def __post_init__(self) -> None:
        for key in ("n_train_images", "n_heldout_images", "batch_images", "shard_rows"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.dtype in ("float32", "float16"), "dtype", f"must be float32 or float16, got {self.dtype!r}")


@dataclass(frozen=True)
class VisionHarvestJob:
    model: VisionSpec
    hook: str
    images: ImageSource
    harvest: VisionHarvestConfig = field(default_factory=VisionHarvestConfig)


def harvest_images(vm: VisionModel, hook: str, images: ImageSet, out: str | Path, batch_images: int = 64,
                   shard_rows: int = 131_072, dtype: str = "float32", meta: dict | None = None) -> int:
    """Writes the activations at `hook` of every token of `images` as a store at `out`; returns the row count."""
    T = vm.n_tokens
    with atomic_path(out) as tmp:
        writer = ShardWriter(tmp, vm.d_model, dtype, {"model": vm.name, "hook": hook, "tokens_per_image": T,
                                                      "patch_size": vm.patch_size, "image_size": vm.image_size,
                                                      "cls_patch": CLS, **(meta or {})})
        buffer = RowBuffer(writer, shard_rows)
        for i in range(0, len(images), batch_images):
            act_BTD = vm.activations(images.pixels_NHW3[i:i + batch_images], hook).float().cpu().numpy()
            B = len(act_BTD)
            if act_BTD.shape[1] != T:
                raise ValueError(f"{vm.name}: {act_BTD.shape[1]} tokens per image at {hook}, expected {T}")
            buffer.add({"act": act_BTD.reshape(B * T, -1),
                        "image": np.repeat(images.image_ids[i:i + B].astype(np.int64), T),
                        "patch": np.tile(np.arange(T, dtype=np.int32), B)})
        if buffer.n == 0 and writer.count == 0:
            raise ValueError(f"harvest {hook}: no images")
        buffer.close()
    return writer.count


def run_vision_harvest(job: VisionHarvestJob, out: str | Path, heldout_out: str | Path) -> None:
    """The training store (the first n_train_images of the training split) and the held-out store."""
    vm = load_vision_model(job.model)
    for split, n, folder in (("train", job.harvest.n_train_images, out),
                             ("heldout", job.harvest.n_heldout_images, heldout_out)):
        images = load_images(job.images, split, vm.image_size, vm.patch_size, n)
        harvest_images(vm, job.hook, images, folder, job.harvest.batch_images, job.harvest.shard_rows,
                       job.harvest.dtype, {"split": split, "images": job.images.path})
