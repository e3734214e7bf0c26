"""The toy world's known concepts against the latents of the stitching and meta-SAE studies (Leask et al.,
arXiv 2502.04878, asked of a world whose concepts are known):

- novel latents: does a novel latent of L detect a concept better than any latent of S does (a new
  concept), or not (a split of an S concept, or nothing readable)?
- meta-latents: do the base latents one meta-latent groups share the world's attributes (the paper's
  "Einstein" = scientist + Germany + famous person)?

A latent's best concept and its F1 come from the F1 of its firing (z > 0) against each concept's presence
on held-out tokens, the rule of the concept check (saesanity.evals.autointerp.concepts.f1_counts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

import numpy as np

from saesanity.data.store import ActivationStore
from saesanity.evals.autointerp.concepts import concept_matrix, f1_counts
from saesanity.evals.autointerp.detection import encode_firing
from saesanity.sae.base import SAE

PERSON, CITY = "entity:person=", "entity:city="
ATTRIBUTES = {"person": ("country", "field", "gender"), "city": ("country",)}
"""The attributes compared per entity type (the world's cities also have continent and language, which
follow from the country)."""


@dataclass(frozen=True)
class HeldoutConcepts:
    """The concepts of a held-out store's first rows: names and the [N, K] presence matrix."""

    names: list[str]
    c_NK: np.ndarray

    @classmethod
    def read(cls, store: ActivationStore, documents: str | Path, limit: int | None) -> HeldoutConcepts:
        from saesanity.evals.autointerp.contexts import StoreIndex, TokenLabels
        index = StoreIndex.read(store, limit=limit)
        labels = TokenLabels.from_corpus(documents, index.doc)
        names, c_NK = concept_matrix(labels.row_concepts(index, np.arange(len(index)), tokens=True))
        return cls(names, c_NK)


def latent_f1(sae: SAE, store: ActivationStore, concepts: HeldoutConcepts) -> np.ndarray:
    """[d_sae, K] F1 of each latent's firing against each concept."""
    fired = encode_firing(sae, store, limit=len(concepts.c_NK))
    return f1_counts(concepts.c_NK, fired.rows, fired.latents, sae.cfg.d_sae)[3].numpy()


def _kind(name: str) -> str:
    return "token" if name.startswith("token=") else "value" if "=" in name else "tag"


def new_concepts(f1_small: np.ndarray, f1_large: np.ndarray, novel: np.ndarray, names: Sequence[str],
                 floor: float) -> dict:
    """Per L latent: its best concept c and F1 f; it is a *new concept* when f >= floor and f exceeds the
    best F1 any S latent reaches on c (so no S latent detects c as well), else 'split/other'. Counted for
    the novel latents and, as the comparison, for the reconstruction latents."""
    best_S = f1_small.max(0) if len(f1_small) else np.zeros(len(names))
    k_L = f1_large.argmax(1)
    f_L = f1_large[np.arange(len(f1_large)), k_L]
    new = (f_L >= floor) & (f_L > best_S[k_L])
    out = {"floor": floor, "n_concepts": len(names)}
    for label, sel in (("novel", novel), ("reconstruction", ~novel)):
        n = int(sel.sum())
        kinds = {}
        for j in np.flatnonzero(sel & new):
            kinds[_kind(names[k_L[j]])] = kinds.get(_kind(names[k_L[j]]), 0) + 1
        out[label] = {"n": n, "n_new_concept": int((sel & new).sum()),
                      "fraction_new_concept": float((sel & new).sum() / n) if n else None,
                      "new_concepts_by_kind": dict(sorted(kinds.items())),
                      "mean_best_f1": float(f_L[sel].mean()) if n else None,
                      "examples": [{"latent": int(j), "concept": names[k_L[j]], "f1": float(f_L[j]),
                                    "best_small_f1": float(best_S[k_L[j]])}
                                   for j in np.flatnonzero(sel & new)[np.argsort(-f_L[sel & new], kind="stable")][:10]]}
    return out


def entity_attributes(documents: str | Path | None = None) -> dict[str, dict[str, dict[str, str]]]:
    """entity_type -> entity -> attribute -> value: entities.parquet beside the corpus's documents.parquet
    where there is one, else the packaged world."""
    if documents is not None and (Path(documents).parent / "entities.parquet").is_file():
        import pyarrow.parquet as pq
        out: dict[str, dict[str, dict[str, str]]] = {}
        for row in pq.read_table(Path(documents).parent / "entities.parquet").to_pylist():
            etype = row["entity_type"]
            out.setdefault(etype, {})[row["entity"]] = {a: row.get(a) or "" for a in ATTRIBUTES.get(etype, ())}
        return out
    from saesanity.data.toyworld import load_world
    return load_world().entities


@dataclass(frozen=True)
class EntityLatent:
    latent: int
    entity_type: str
    entity: str
    attributes: dict[str, str]


def entity_latents(f1_FK: np.ndarray, names: Sequence[str], entities: dict, floor: float) -> list[EntityLatent]:
    """Latents whose best concept is an entity (`entity:person=<name>` or `entity:city=<name>`) at F1 >=
    floor, with the entity's attributes (people: country, field, gender; cities: country)."""
    out = []
    k = f1_FK.argmax(1)
    for j in range(len(f1_FK)):
        name, f = names[k[j]], f1_FK[j, k[j]]
        if f < floor:
            continue
        for prefix, etype in ((PERSON, "person"), (CITY, "city")):
            entity = name[len(prefix):] if name.startswith(prefix) else None
            if entity is not None and entity in entities.get(etype, {}):
                attrs = {a: entities[etype][entity][a] for a in ATTRIBUTES[etype]}
                out.append(EntityLatent(j, etype, entity, attrs))
    return out


def attribute_alignment(latents: Sequence[EntityLatent], active_NM: np.ndarray, min_latents: int = 8,
                        min_pairs: int = 20) -> dict:
    """Do meta-latents group base latents of entities that share an attribute value? `active_NM`: [n_base,
    d_meta] whether meta-latent m is active on base latent n's decoder row. Over pairs of entity latents
    of *different* entities (two latents of one entity share every attribute trivially) that both have
    the attribute: the fraction sharing its value among pairs that share a meta-latent, against chance,
    the same fraction over all such pairs; ratio = shared / chance. With fewer than `min_latents` entity
    latents, or fewer than `min_pairs` pairs sharing a meta-latent, the statistic is noise: its value is
    null and `note` says 'too few to say'."""
    rec: dict = {"n_entity_latents": len(latents), "min_latents": min_latents, "min_pairs": min_pairs,
                 "by_attribute": {}}
    idx = np.array([e.latent for e in latents], dtype=np.int64)
    act = active_NM[idx].astype(np.float64) if len(idx) else np.zeros((0, active_NM.shape[1]))
    shares_meta = (act @ act.T) > 0
    attrs = sorted({a for e in latents for a in e.attributes})
    for a in attrs:
        same_meta = total_meta = same_all = total_all = 0
        for i, j in combinations(range(len(latents)), 2):
            ei, ej = latents[i], latents[j]
            if ei.entity == ej.entity and ei.entity_type == ej.entity_type:
                continue
            if a not in ei.attributes or a not in ej.attributes:
                continue
            same = ei.attributes[a] == ej.attributes[a]
            total_all += 1
            same_all += same
            if shares_meta[i, j]:
                total_meta += 1
                same_meta += same
        enough = len(latents) >= min_latents and total_meta >= min_pairs
        shared = same_meta / total_meta if total_meta else None
        chance = same_all / total_all if total_all else None
        rec["by_attribute"][a] = {
            "pairs_sharing_meta": total_meta, "pairs_all": total_all,
            "shared_fraction": shared if enough else None, "chance_fraction": chance if enough else None,
            "ratio": shared / chance if enough and chance else None,
            "note": "" if enough else (f"too few to say: {len(latents)} entity latents, {total_meta} pairs "
                                       f"sharing a meta-latent (need {min_latents} and {min_pairs})")}
    return rec
