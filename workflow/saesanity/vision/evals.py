"""The evaluations of arXiv 2602.14111 that fit a vision model, for one SAE at the hook it was trained on
(EV and L0 come from eval_core on the same held-out store):

- splice: the model's loss and accuracy with the SAE's reconstruction in place of every token's activation
  at the hook (CLS and patches), against the clean model and zero ablation, as the language model's
  CE-loss recovered (saesanity.evals.lm_loss): loss recovered = (L_zero - L_sae) / (L_zero - L_clean),
  accuracy recovered = (A_sae - A_zero) / (A_clean - A_zero);
- probing: sparse probing (saesanity.evals.probing.probes, SAEBench's protocol) on the images' labels, an
  image's features being its patch tokens' latents averaged (CLS left out), top-k latents by |mean difference|;
- concepts (toy world): per held-out patch, each known concept's presence against each latent's firing; a
  concept is detected when some latent reaches F1 >= threshold (saesanity.evals.autointerp.concepts);
- detection (toy world): detection scoring with the ground-truth back-end (Paulo et al., arXiv 2410.13928, as
  saesanity.evals.autointerp): a context is one patch; a latent is explained by the concept that best
  separates its top training patches from random ones, and scored on held-out patches where it fires and
  where it does not.
Without patch concepts (an image folder) concepts and detection are null."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch

from saesanity.config import _check
from saesanity.data.store import ActivationStore, StoreError
from saesanity.evals.autointerp.concepts import concept_f1, presence
from saesanity.evals.autointerp.contexts import Context
from saesanity.evals.autointerp.detection import ABOVE, score_latent, stratified_rows, top_rows
from saesanity.evals.autointerp.explainers import GroundTruthInterpreter
from saesanity.evals.autointerp.reference import fisher_detectors
from saesanity.evals.core import DEAD_FREQUENCY
from saesanity.evals.probing.probes import Task, class_pools, dense_probe, one_vs_rest, sparse_probe, summarise
from saesanity.vision.images import ImageSet, ImageSource, load_images
from saesanity.vision.model import VisionModel, VisionSpec, load_vision_model
from saesanity.vision.world import ATTRIBUTES, BACKGROUND


@dataclass(frozen=True)
class VisionEvalConfig:
    """Settings of the per-SAE vision evaluations (config `vision.eval`)."""

    n_images: int = 500
    """Held-out images the spliced model is run on."""
    batch_images: int = 100
    ks: list[int] = field(default_factory=lambda: [1, 5])
    """Sparse probing: numbers of latents kept (arXiv 2602.14111 reports top-1 and top-5)."""
    n_probe_train: int = 600
    n_probe_test: int = 400
    concept_threshold: float = 0.8
    n_latents: int = 100
    """Detection: random live latents scored."""
    n_explain: int = 10
    n_activating: int = 20
    n_random: int = 20
    n_background: int = 256
    train_images: int = 1000
    """Detection: training images whose patches the explainer scans."""
    seed: int = 0

    def __post_init__(self) -> None:
        for key in ("n_images", "batch_images", "n_probe_train", "n_probe_test", "n_latents", "n_explain",
                    "n_activating", "n_random", "n_background", "train_images"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(0 < self.concept_threshold <= 1, "concept_threshold", "must be in (0, 1]")
        _check(len(self.ks) > 0 and all(k > 0 for k in self.ks), "ks", "must be positive integers")


@dataclass(frozen=True)
class VisionEvalJob:
    model: VisionSpec
    hook: str
    images: ImageSource
    eval: VisionEvalConfig = field(default_factory=VisionEvalConfig)


@dataclass(frozen=True)
class StoreImages:
    """A vision store read whole: activations [N_images, T, d] and the image ids, in store order."""

    image_ids: np.ndarray
    x_NTD: np.ndarray


def read_store_images(store: ActivationStore, max_images: int | None = None) -> StoreImages:
    T = int(store.meta["tokens_per_image"])
    n_rows = store.count if max_images is None else min(store.count, max_images * T)
    x = store.read_all(limit=n_rows)
    image, patch = [], []
    for shard in store.shards:
        t = pq.read_table(shard, columns=["image", "patch"])
        image.append(t["image"].to_numpy())
        patch.append(t["patch"].to_numpy())
    image, patch = np.concatenate(image)[:n_rows], np.concatenate(patch)[:n_rows]
    if n_rows % T or not (patch.reshape(-1, T) == np.arange(T)).all():
        raise StoreError(f"{store.folder}: rows are not whole images of {T} tokens in patch order")
    return StoreImages(image.reshape(-1, T)[:, 0], x.reshape(-1, T, store.d))


def _aligned(images: ImageSet, ids: np.ndarray, what: str) -> ImageSet:
    if len(images) < len(ids) or not np.array_equal(images.image_ids[:len(ids)], ids):
        raise StoreError(f"{what}: the store's images are not the first images of the split (harvested from "
                         "other images?)")
    return images.head(len(ids))


@torch.no_grad()
def encode_all(sae, x_ND: np.ndarray, chunk: int = 16384) -> torch.Tensor:
    return torch.cat([sae.encode(torch.from_numpy(x_ND[i:i + chunk])) for i in range(0, len(x_ND), chunk)])


def _recovered(zero: float | None, sae: float | None, clean: float | None) -> float | None:
    if None in (zero, sae, clean) or zero == clean:
        return None
    return (zero - sae) / (zero - clean)


@torch.no_grad()
def splice_metrics(vm: VisionModel, hook: str, images: ImageSet, reconstruct, batch: int = 100) -> dict:
    """Loss and accuracy clean, with `reconstruct` spliced in at the hook and with the hook zeroed, and the
    recovered fractions (arXiv 2602.14111's CE-loss recovered, zero ablation as the reference)."""
    sums: dict[str, list] = {f"{m}_{k}": [] for m in ("loss", "accuracy") for k in ("clean", "sae", "zero")}
    for i in range(0, len(images), batch):
        pixels = images.pixels_NHW3[i:i + batch]
        targets = None if images.targets is None else tuple(t[i:i + batch] for t in images.targets)
        clean = vm.outputs(pixels)

        def splice(x_BTD):
            B, T, D = x_BTD.shape
            return reconstruct(x_BTD.reshape(B * T, D).float()).reshape(B, T, D).to(x_BTD.dtype)

        for name, out in (("clean", clean), ("sae", vm.outputs(pixels, hook, splice)),
                          ("zero", vm.outputs(pixels, hook, torch.zeros_like))):
            loss, acc = vm.downstream(out, clean, targets)
            sums[f"loss_{name}"].append(loss)
            if acc is not None:
                sums[f"accuracy_{name}"].append(acc)
    m = {k: float(np.concatenate(v).mean()) if v else None for k, v in sums.items()}
    m["loss_recovered"] = _recovered(m["loss_zero"], m["loss_sae"], m["loss_clean"])
    # Accuracy grows where loss falls: recovered = (A_sae - A_zero) / (A_clean - A_zero).
    m["accuracy_recovered"] = (None if m["accuracy_clean"] is None else
                               _recovered(-m["accuracy_zero"], -m["accuracy_sae"], -m["accuracy_clean"]))
    m["n_images"] = len(images)
    return m


def probe_tasks(labels: dict[str, np.ndarray], n_train: int, n_test: int, seed: int) -> list[Task]:
    """One balanced task per binary label (`<label set>:<class>`): its images against as many without it,
    drawn as SAEBench draws one-vs-rest negatives (probes.class_pools / one_vs_rest), seeded per label."""
    tasks = []
    for name, y in sorted(labels.items()):
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        pools = class_pools(["yes" if v else "no" for v in y], n_train, n_test, rng)
        if len(pools) < 2:
            continue
        train_docs, train_y = one_vs_rest({c: p[0] for c, p in pools.items()}, "yes", rng)
        test_docs, test_y = one_vs_rest({c: p[1] for c, p in pools.items()}, "yes", rng)
        if train_y.sum() and test_y.sum():
            tasks.append(Task("vision", name, train_docs, train_y, test_docs, test_y))
    return tasks


def probing_metrics(z_NF: np.ndarray, x_ND: np.ndarray, labels: dict[str, np.ndarray], cfg: VisionEvalConfig) -> dict:
    """Sparse probing on per-image features: SAE latents `z_NF` and, as the dense reference, raw activations."""
    records = []
    for task in probe_tasks(labels, cfg.n_probe_train, cfg.n_probe_test, cfg.seed):
        r = sparse_probe(z_NF, task, cfg.ks)
        r["dense"] = dense_probe(x_ND, task)
        records.append(r)
    return summarise(records, cfg.ks)


def concept_rows(images: ImageSet) -> list[frozenset[str]]:
    """The patch rows' concepts, image by image (the store's rows without CLS)."""
    return [c for per_image in images.concepts for c in per_image]


def by_attribute(record: dict) -> dict:
    """Fraction detected per attribute (shape, colour, ..., count, background)."""
    out = {}
    for attr in (*ATTRIBUTES, "count", BACKGROUND):
        sel = [r["f1"] >= record["threshold"] for r in record["concepts"] if r["concept"].split("=")[0] == attr]
        out[attr] = float(np.mean(sel)) if sel else None
    return out


def concepts_metrics(z_RF: torch.Tensor, names: list[str], c_RK: np.ndarray, threshold: float) -> dict:
    rows, latents = torch.nonzero(z_RF > 0, as_tuple=True)
    rec = concept_f1(names, c_RK, rows.numpy(), latents.numpy(), z_RF.shape[1], threshold)
    rec.pop("fraction_detected_by_kind")  # the toy world's token kinds: not ours
    rec["n_patches"] = rec.pop("n_tokens")
    # How close the dictionary comes below the threshold: the best latent's F1, averaged over concepts.
    rec["mean_best_f1"] = float(np.mean([r["f1"] for r in rec["concepts"]])) if rec["concepts"] else None
    rec["fraction_detected_by_attribute"] = by_attribute(rec)
    return rec


def _patch_context(p: int, concepts: frozenset[str]) -> Context:
    return Context(tokens=(f"patch{p}",), concepts=(concepts,))


def detection_metrics(z_h_RF: torch.Tensor, h_concepts: Sequence[frozenset[str]], z_t_RF: torch.Tensor,
                      t_concepts: Sequence[frozenset[str]], t_image: np.ndarray, patches_per_image: int,
                      cfg: VisionEvalConfig) -> dict:
    """Detection scoring with the ground-truth interpreter (GroundTruthInterpreter), one patch per context.
    Rows are patch rows (CLS left out); `t_image` is the image of each training row."""
    fires_F = (z_h_RF > 0).sum(0).numpy()
    live = np.flatnonzero(fires_F / len(z_h_RF) >= DEAD_FREQUENCY)
    chosen = np.sort(np.random.default_rng([cfg.seed, 0]).choice(live, min(cfg.n_latents, len(live)), replace=False))
    bg = np.sort(np.random.default_rng([cfg.seed, 1]).choice(len(z_t_RF), min(cfg.n_background, len(z_t_RF)),
                                                             replace=False))
    interpreter = GroundTruthInterpreter([_patch_context(int(r % patches_per_image), t_concepts[r]) for r in bg])
    latents = []
    for j in chosen:
        rng = np.random.default_rng([cfg.seed, 2, int(j)])
        t_vals = z_t_RF[:, j].numpy()
        t_rows = np.flatnonzero(t_vals > 0)
        top = top_rows(t_image, t_rows, t_vals[t_rows], cfg.n_explain)  # at most one patch per image
        if not len(top):
            continue
        h_vals = z_h_RF[:, j].numpy()
        h_rows = np.flatnonzero(h_vals > 0)
        h_rows = np.sort(stratified_rows(h_rows, h_vals[h_rows], cfg.n_activating, rng))
        quiet = np.flatnonzero(h_vals <= 0)
        quiet = np.sort(rng.choice(quiet, min(cfg.n_random, len(quiet)), replace=False))

        def contexts(rows, concepts):
            return [_patch_context(int(r % patches_per_image), concepts[r]) for r in rows]

        latents.append({"latent": int(j), **score_latent(interpreter, contexts(top, t_concepts),
                                                         contexts(h_rows, h_concepts), contexts(quiet, h_concepts),
                                                         rng)})
    acc = np.array([r["accuracy"] for r in latents])
    return {"score": float(acc.mean()) if len(acc) else None, "n_scored": len(latents), "n_live": len(live),
            f"frac_above_{ABOVE}": float((acc > ABOVE).mean()) if len(acc) else None, "backend": "ground_truth",
            "latents": latents}


def vision_metrics(sae_dir: str | Path, job: VisionEvalJob, train: str | Path, heldout: str | Path) -> dict:
    """vision.json of one SAE: its identity, the hook, and the four evaluations above."""
    from saesanity.evals.identity import sae_identity
    from saesanity.sae.io import load_sae
    cfg = job.eval
    h_store, t_store = ActivationStore.open(heldout), ActivationStore.open(train)
    for store, where in ((h_store, heldout), (t_store, train)):
        if store.meta.get("hook") != job.hook:
            raise StoreError(f"{where}: harvested at hook {store.meta.get('hook')!r}, not {job.hook!r}")
    vm = load_vision_model(job.model)
    sae = load_sae(sae_dir).to(vm.device).eval()
    held = read_store_images(h_store)
    images = _aligned(load_images(job.images, "heldout", vm.image_size, vm.patch_size, len(held.image_ids)),
                      held.image_ids, str(heldout))
    N, T, D = held.x_NTD.shape
    record = {**sae_identity(sae_dir), "hook": job.hook, "n_heldout_images": N, "tokens_per_image": T}

    def reconstruct(x):
        return sae.decode(sae.encode(x))

    record["splice"] = splice_metrics(vm, job.hook, images.head(cfg.n_images), reconstruct, cfg.batch_images)
    # Patch rows only (CLS left out): probing pools them, the concept check and detection label them.
    z_h = encode_all(sae, held.x_NTD[:, 1:].reshape(-1, D)).float()
    z_pooled = z_h.reshape(N, T - 1, -1).mean(1).numpy()
    record["probing"] = probing_metrics(z_pooled, held.x_NTD[:, 1:].mean(1), images.probe_labels, cfg)
    record["concepts"] = record["detection"] = None
    if images.concepts is not None:
        h_concepts = concept_rows(images)
        world_names = sorted(frozenset().union(*h_concepts))
        record["concepts"] = concepts_metrics(z_h, world_names, presence(h_concepts, world_names),
                                              cfg.concept_threshold)
        tr = read_store_images(t_store, cfg.train_images)
        t_images = _aligned(load_images(job.images, "train", vm.image_size, vm.patch_size, len(tr.image_ids)),
                            tr.image_ids, str(train))
        z_t = encode_all(sae, tr.x_NTD[:, 1:].reshape(-1, D)).float()
        record["detection"] = detection_metrics(z_h, h_concepts, z_t, concept_rows(t_images),
                                                np.repeat(tr.image_ids, T - 1), T - 1, cfg)
    return record


def concepts_reference(train: str | Path, heldout: str | Path, images: ImageSource, source: str, d_sae: int,
                       target_l0: float, threshold: float, train_images: int, seed: int = 0) -> dict:
    """The concept check of two reference dictionaries on the same held-out patches (as
    saesanity.evals.autointerp.reference does for the language model): `ideal`, one Fisher discriminant per
    concept fitted on training patches with the F1-best threshold (what a linear read-out can reach at this
    hook), and `random`, d_sae random directions each firing on its top target_l0 / d_sae of training patches."""
    t_store, h_store = ActivationStore.open(train), ActivationStore.open(heldout)
    patch = int(t_store.meta["patch_size"])
    size = int(t_store.meta["image_size"])
    tr, held = read_store_images(t_store, train_images), read_store_images(h_store)
    t_imgs = _aligned(load_images(images, "train", size, patch, len(tr.image_ids)), tr.image_ids, str(train))
    h_imgs = _aligned(load_images(images, "heldout", size, patch, len(held.image_ids)), held.image_ids, str(heldout))
    if h_imgs.concepts is None:
        raise ValueError("the concept reference needs patch concepts (the toy vision world)")
    h_rows, t_rows = concept_rows(h_imgs), concept_rows(t_imgs)
    names = sorted(frozenset().union(*h_rows))
    c_h, c_t = presence(h_rows, names), torch.from_numpy(presence(t_rows, names))
    D = tr.x_NTD.shape[2]
    x_t = torch.from_numpy(tr.x_NTD[:, 1:].reshape(-1, D)).double()
    x_h = torch.from_numpy(held.x_NTD[:, 1:].reshape(-1, D)).double()
    mean_D = x_t.mean(0)
    x_t, x_h = x_t - mean_D, x_h - mean_D
    W_KD, thresholds = fisher_detectors(x_t, c_t)
    ideal = concepts_metrics((x_h @ W_KD.T - thresholds).clamp_min(0), names, c_h, threshold)
    gen = torch.Generator().manual_seed(seed)
    R_FD = torch.randn(d_sae, D, generator=gen, dtype=torch.float64)
    R_FD /= R_FD.norm(dim=1, keepdim=True)
    k = max(1, int(round(len(x_t) * (1 - target_l0 / d_sae))))
    fire_at = (x_t @ R_FD.T).kthvalue(k, dim=0).values
    random = concepts_metrics((x_h @ R_FD.T - fire_at).clamp_min(0), names, c_h, threshold)
    return {"source": source, "ideal": ideal, "random": random, "d_sae": d_sae, "target_l0": target_l0,
            "train_patches": len(x_t), "heldout_patches": len(x_h), "seed": seed}
