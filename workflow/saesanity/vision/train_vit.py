"""Training the toy ViT on the toy vision world: from CLS, one binary logit per image label (whether some
object has a shape, colour, size, texture or position) and the object count; AdamW with linear warmup and
cosine decay, seeded data order and init. Reports held-out accuracy beside the majority-class accuracy of
each head (what a model that learned nothing gets)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from saesanity.atomic import write_json
from saesanity.config import _check
from saesanity.vision.images import ImageSource, load_images
from saesanity.vision.model import ToyViT, ToyViTConfig, VisionModel, save_toy_vit


@dataclass(frozen=True)
class ViTTrainConfig:
    steps: int = 600
    batch_size: int = 64
    lr: float = 0.002
    warmup_steps: int = 100
    weight_decay: float = 0.01
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.lr > 0, "lr", f"must be positive, got {self.lr}")


@dataclass(frozen=True)
class ViTJob:
    model: ToyViTConfig = field(default_factory=ToyViTConfig)
    train: ViTTrainConfig = field(default_factory=ViTTrainConfig)


def _lr_factor(step: int, cfg: ViTTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def heldout_metrics(vm: VisionModel, images, batch: int = 256) -> dict:
    """Mean loss and accuracy over heads on `images` (an ImageSet of the world), the count head's accuracy,
    and the accuracy a per-head majority vote gets."""
    losses, accs, count_right = [], [], []
    y_NL, counts = images.targets
    for i in range(0, len(images), batch):
        out = vm.outputs(images.pixels_NHW3[i:i + batch])
        loss, acc = vm.downstream(out, out, (y_NL[i:i + batch], counts[i:i + batch]))
        losses.append(loss)
        accs.append(acc)
        count_right.append((out[:, y_NL.shape[1]:].argmax(1).cpu().numpy() + 1) == counts[i:i + batch])
    majority = np.r_[np.maximum(y_NL.mean(0), 1 - y_NL.mean(0)), np.bincount(counts).max() / len(counts)]
    return {"loss": float(np.concatenate(losses).mean()), "accuracy": float(np.concatenate(accs).mean()),
            "count_accuracy": float(np.concatenate(count_right).mean()),
            "majority_accuracy": float(majority.mean()), "n_images": len(images)}


def train_vit(job: ViTJob, world: str | Path, out: str | Path, metrics_out: str | Path, threads: int = 1) -> dict:
    """Trains the toy ViT on the world's training images, saves it at `out` and its held-out metrics at
    `metrics_out`."""
    torch.manual_seed(job.train.seed)
    source = ImageSource("world", str(world))
    cfg = job.model
    train = load_images(source, "train", cfg.image_size, cfg.patch_size)
    heldout = load_images(source, "heldout", cfg.image_size, cfg.patch_size)
    y_NL, counts = train.targets
    n_counts = int(counts.max())
    model = ToyViT(cfg, y_NL.shape[1], n_counts)
    vm = VisionModel("toyvit", model, Path(out).name, cfg.image_size, cfg.patch_size, cfg.d_model, cfg.n_layers)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and n not in ("cls", "pos")]
    rest = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and n not in ("cls", "pos"))]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": job.train.weight_decay},
                             {"params": rest, "weight_decay": 0.0}], lr=job.train.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _lr_factor(s, job.train))
    rng = np.random.default_rng(job.train.seed)
    order, at = rng.permutation(len(train)), 0
    log = []
    for step in range(job.train.steps):
        if at + job.train.batch_size > len(order):
            order, at = rng.permutation(len(train)), 0
        idx = np.sort(order[at:at + job.train.batch_size])
        at += job.train.batch_size
        model.train()
        logits = model(vm.inputs(train.pixels_NHW3[idx]))
        loss_N = _loss(logits, y_NL[idx], counts[idx])
        opt.zero_grad(set_to_none=True)
        loss_N.mean().backward()
        opt.step()
        sched.step()
        if step % 100 == 0 or step == job.train.steps - 1:
            log.append({"step": step, "loss": float(loss_N.detach().mean())})
    model.eval()
    metrics = {"model": dataclasses.asdict(cfg), "train": dataclasses.asdict(job.train), "threads": threads,
               "heldout": heldout_metrics(vm, heldout), "train_subset": heldout_metrics(vm, train.head(1000)),
               "labels": sorted(train.probe_labels), "log": log}
    save_toy_vit(model, out, {"world": str(world)})
    write_json(metrics_out, metrics)
    return metrics


def _loss(logits: torch.Tensor, y_NL: np.ndarray, counts: np.ndarray) -> torch.Tensor:
    """The differentiable form of VisionModel.downstream's loss (same formula)."""
    n_labels = y_NL.shape[1]
    bce = F.binary_cross_entropy_with_logits(logits[:, :n_labels], torch.from_numpy(y_NL), reduction="none")
    ce = F.cross_entropy(logits[:, n_labels:], torch.from_numpy(counts).long() - 1, reduction="none")
    return (bce.sum(1) + ce) / (n_labels + 1)
