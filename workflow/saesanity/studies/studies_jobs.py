"""The records of the `stitching` and `meta-sae` jobs (arXiv 2502.04878): SAE folders and stores in, one JSON
record out, starting with the SAE identity (saesanity.evals.identity) so that the tables put a trained SAE
beside its random baselines."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from saesanity.data.store import ActivationStore, StoreError
from saesanity.evals.identity import sae_identity
from saesanity.studies.meta_sae import MetaSAEConfig
from saesanity.studies.stitching import StitchingConfig

PAIR_KEYS = ("source", "arch", "variant", "seed", "target_l0", "init_seed")
"""Identity fields a stitched pair shares (those of the smaller SAE are recorded at the top level)."""


def stitching_record(small_dir: str | Path, large_dir: str | Path, data: str | Path, cfg: StitchingConfig,
                     model=None, hook: str | None = None, documents: str | Path | None = None) -> dict:
    """Stitching of the SAE in `small_dir` towards the one in `large_dir` on the held-out store `data`;
    with `model` (a ModelSpec) and `hook`, the CE loss at cfg.ce_points points of the curve; with the toy
    world's `documents`, the novel latents against the world's concepts."""
    from saesanity.sae.io import load_sae, read_training
    from saesanity.studies.stitching import stitching_curve
    small, large = load_sae(small_dir), load_sae(large_dir)
    id_S, id_L = sae_identity(small_dir), sae_identity(large_dir)
    store = ActivationStore.open(data)
    loss_fn = None
    if model is not None:
        from saesanity.evals.lm_loss import heldout_documents, spliced_loss
        from saesanity.lm.model import load_model
        if store.meta.get("hook") != hook:
            raise StoreError(f"{data}: harvested at hook {store.meta.get('hook')!r}, not {hook!r}")
        lm = load_model(model)
        docs, outliers = heldout_documents(store, lm.bos_id, cfg.ce_docs)

        def loss_fn(reconstruct):
            # The curve's SAEs stay on the CPU; the model's activations visit them there.
            return spliced_loss(lm, hook, docs, lambda x: reconstruct(x.float().cpu()).to(x.device), cfg.batch_docs,
                                outliers)
    record, cls = stitching_curve(small, large, store, cfg, loss_fn)
    out = {**{k: id_S[k] for k in PAIR_KEYS}, "small": id_S, "large": id_L, "hook": hook,
           "stitching_config": dataclasses.asdict(cfg), **record, "concepts": None}
    mismatch = [k for k in ("source", "arch", "variant") if id_S[k] != id_L[k]]
    out["pair_note"] = f"S and L differ in {mismatch}" if mismatch else ""
    # How far each SAE left its random init, beside its novel fraction: a decoder near its init makes latents
    # "novel" by cosine without any training (docs/studies.md).
    for name, folder in (("small", small_dir), ("large", large_dir)):
        out[f"init_cos_mean_{name}"] = read_training(folder).get("init_cos_mean")
    if documents is not None:
        from saesanity.studies.concept_links import HeldoutConcepts, latent_f1, new_concepts
        concepts = HeldoutConcepts.read(store, documents, cfg.concept_rows)
        out["concepts"] = new_concepts(latent_f1(small, store, concepts), latent_f1(large, store, concepts),
                                       cls.novel, concepts.names, cfg.concept_floor)
    return out


def meta_record(sae_dir: str | Path, cfg: MetaSAEConfig, data: str | Path | None = None,
                documents: str | Path | None = None, max_members: int | None = 64) -> dict:
    """A meta-SAE on the decoder of the SAE in `sae_dir`; with the held-out store `data` and the toy
    world's `documents`, whether its meta-latents group base latents by the world's attributes."""
    from saesanity.sae.io import load_sae
    from saesanity.studies.meta_sae import meta_metrics, random_rows_variance_explained, train_meta_sae
    sae = load_sae(sae_dir)
    meta = train_meta_sae(sae.W_dec.detach(), cfg)
    rec, active = meta_metrics(meta, sae.W_dec.detach(), max_members)
    rec["random_rows_variance_explained"] = random_rows_variance_explained(*sae.W_dec.shape, cfg)
    out = {**sae_identity(sae_dir), "meta_config": dataclasses.asdict(cfg), "meta": rec,
           "attribute_alignment": None}
    if (data is None) != (documents is None):
        raise ValueError("the attribute alignment needs both the held-out store and the corpus's documents")
    if documents is not None:
        from saesanity.studies.concept_links import (HeldoutConcepts, attribute_alignment, entity_attributes,
                                                     entity_latents, latent_f1)
        store = ActivationStore.open(data)
        concepts = HeldoutConcepts.read(store, documents, cfg.concept_rows)
        ents = entity_latents(latent_f1(sae, store, concepts), concepts.names, entity_attributes(documents),
                              cfg.concept_floor)
        out["attribute_alignment"] = attribute_alignment(ents, active, cfg.min_latents, cfg.min_pairs)
    return out
