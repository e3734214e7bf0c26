"""Attribute prompts for RAVEL-style causal editing (Huang et al. 2024, arXiv 2402.17700), as one table that
the MDBM evaluation reads, from either source:

- the toy world: results/toyworld/corpus/{prompts,entities}.parquet (saesanity.data.toyworld);
- RAVEL's public JSON files, per entity type T (the layout of github.com/explanare/ravel, data/):
  ravel_T_entity_attributes.json  {entity: {attribute: value}}
  ravel_T_attribute_to_prompts.json  {attribute: [template with one "%s" for the entity]}
  ravel_T_prompt_to_split.json  {template: "train" | "val" | "test"}
  RAVEL's entity split (ravel_T_entity_to_split.json) is not read: held-out templates are the held-out axis
  here, as in the toy world (template_split).

A prompt row: entity, entity_type, attribute, template_id, template_split ('train' | 'heldout'), prompt,
answer, entity_end (character offset just after the entity in the prompt: the intervention site is the
entity's last token).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SPLITS = ("train", "heldout")
# RAVEL's validation and test templates are both held out from mask training.
RAVEL_SPLITS = {"train": "train", "val": "heldout", "test": "heldout"}


class RavelDataError(ValueError):
    """Attribute-prompt data are missing or malformed; the message names the file."""


@dataclass(frozen=True)
class AttributeData:
    """Prompts and the attribute values of their entities."""

    prompts: list[dict[str, Any]]
    entities: dict[str, dict[str, dict[str, str]]]
    """entity_type -> entity -> attribute -> value ('' or absent: unknown)."""

    def value(self, entity_type: str, entity: str, attribute: str) -> str:
        return self.entities[entity_type][entity].get(attribute, "")


def ravel_file_names(entity_type: str) -> list[str]:
    return [f"ravel_{entity_type}_{part}.json" for part in ("entity_attributes", "attribute_to_prompts",
                                                             "prompt_to_split")]


def load_toyworld(corpus: str | Path) -> AttributeData:
    """The toy world's prompts.parquet and entities.parquet (rule toyworld_corpus)."""
    import pyarrow.parquet as pq
    corpus = Path(corpus)
    for name in ("prompts.parquet", "entities.parquet"):
        if not (corpus / name).exists():
            raise RavelDataError(f"{corpus}: no {name}; not a toy-world corpus folder (rule toyworld_corpus)")
    rows = pq.read_table(corpus / "prompts.parquet").to_pylist()
    entities: dict[str, dict[str, dict[str, str]]] = {}
    for row in pq.read_table(corpus / "entities.parquet").to_pylist():
        attrs = {k: v for k, v in row.items() if k not in ("entity", "entity_type") and v}
        entities.setdefault(row["entity_type"], {})[row["entity"]] = attrs
    prompts = []
    for row in rows:
        # The entity is one whole word of the prompt (toy-world templates hold {e} once).
        match = re.search(rf"(?<!\w){re.escape(row['entity'])}(?!\w)", row["prompt"])
        if match is None:
            raise RavelDataError(f"{corpus}/prompts.parquet: entity {row['entity']!r} not in {row['prompt']!r}")
        prompts.append({**row, "entity_end": match.end()})
    return AttributeData(prompts, entities)


def load_ravel(folder: str | Path, entity_types: list[str], max_entities: int | None = None,
               max_templates: int | None = None, seed: int = 0) -> AttributeData:
    """RAVEL's JSON files for `entity_types` from a local folder. `max_entities` entities per type and
    `max_templates` templates per (attribute, split) are drawn with `seed` (all when None)."""
    folder = Path(folder)
    missing = [n for t in entity_types for n in ravel_file_names(t) if not (folder / n).exists()]
    if missing:
        raise RavelDataError(
            f"RAVEL data folder {str(folder)!r} lacks {missing}. Download RAVEL's data (github.com/explanare/ravel, "
            f"data/; or the Hugging Face data set adamkarvonen/ravel_prompts) on a machine with network and set "
            f"evals.ravel.ravel_dir to the folder holding these files.")
    prompts: list[dict[str, Any]] = []
    entities: dict[str, dict[str, dict[str, str]]] = {}
    rng = np.random.default_rng(seed)
    for etype in entity_types:
        values, templates, splits = (_read_json(folder / n) for n in ravel_file_names(etype))
        names = sorted(values)
        if max_entities is not None and len(names) > max_entities:
            names = sorted(names[i] for i in rng.choice(len(names), max_entities, replace=False))
        entities[etype] = {e: {a: str(v) for a, v in values[e].items()} for e in names}
        for attr in sorted(templates):
            by_split: dict[str, list[str]] = {s: [] for s in SPLITS}
            for template in templates[attr]:
                if template.count("%s") != 1:
                    raise RavelDataError(f"{folder}/{ravel_file_names(etype)[1]}: template {template!r} of "
                                         f"{attr!r} must contain '%s' exactly once")
                if template not in splits:  # RAVEL lists some templates without a split: unused there too
                    continue
                split = RAVEL_SPLITS.get(splits[template])
                if split is None:
                    raise RavelDataError(f"{folder}/{ravel_file_names(etype)[2]}: template {template!r} has split "
                                         f"{splits[template]!r}; expected one of {sorted(RAVEL_SPLITS)}")
                by_split[split].append(template)
            for split, tpls in by_split.items():
                if max_templates is not None and len(tpls) > max_templates:
                    tpls = [tpls[i] for i in sorted(rng.choice(len(tpls), max_templates, replace=False))]
                for i, template in enumerate(tpls):
                    before, after = template.split("%s")
                    for e in names:
                        answer = entities[etype][e].get(attr, "")
                        if answer:
                            prompts.append({"entity": e, "entity_type": etype, "attribute": attr,
                                            "template_id": f"{etype}.{attr}.{split}{i}", "template_split": split,
                                            "prompt": before + e + after, "answer": answer,
                                            "entity_end": len(before) + len(e)})
    return AttributeData(prompts, entities)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise RavelDataError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise RavelDataError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data
