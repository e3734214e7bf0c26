"""The toy world corpus: documents whose concepts are known, written as Parquet.

The world (entities, attributes, templates, vocabulary) lives in toyworld.yaml beside this file; this
module only samples from it. Every word carries a concept tag, every document three labels, and every
(entity, attribute, template) an attribute prompt with its answer, so that probing, RAVEL-style causal
editing and interpretability (arXiv 2602.14111, sec. 5) can be scored against ground truth.

Outputs (one folder):
- documents.parquet: doc, split ('train' | 'heldout'), text, words, concepts, values (lists aligned with
  words), topic, sentiment, register.
- prompts.parquet: entity, entity_type, attribute, template_id, template_split, prompt, answer.
- entities.parquet: entity, entity_type, and one column per attribute (empty where it does not apply).
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from saesanity.atomic import atomic_path
from saesanity.config import ConfigError, _check

NONE = "none"
SPLITS = ("train", "heldout")
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class ToyWorldConfig:
    """How many documents to sample from the world, and how."""

    n_train_docs: int = 20_000
    n_heldout_docs: int = 2_000
    min_topic_sentences: int = 2
    max_topic_sentences: int = 3
    min_fact_sentences: int = 1
    max_fact_sentences: int = 2
    opener_probability: float = 0.7
    """Probability that a topic sentence starts with a register opener."""
    seed: int = 0
    world: str = ""
    """Path of a world YAML; empty means the packaged toyworld.yaml."""

    def __post_init__(self) -> None:
        for key in ("n_train_docs", "n_heldout_docs", "min_topic_sentences", "min_fact_sentences"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.max_topic_sentences >= self.min_topic_sentences, "max_topic_sentences", ">= min needed")
        _check(self.max_fact_sentences >= self.min_fact_sentences, "max_fact_sentences", ">= min needed")
        _check(0 <= self.opener_probability <= 1, "opener_probability", "must be in [0, 1]")


@dataclass(frozen=True)
class World:
    """The world as tables: entities with attribute values, templates, and the label vocabularies."""

    entities: dict[str, dict[str, dict[str, str]]]
    """entity_type -> entity -> attribute -> value."""
    templates: dict[str, dict[str, dict[str, list[str]]]]
    """entity_type -> attribute -> split -> templates with {e}."""
    topics: dict[str, dict[str, list[str]]]
    sentiments: dict[str, dict[str, list[str]]]
    registers: dict[str, list[list[str]]]
    """register -> openers, each a list of words."""
    patterns: list[str] = field(default_factory=list)

    @property
    def facts(self) -> list[tuple[str, str, str, str]]:
        """(entity_type, entity, attribute, answer) for every fact, in a fixed order."""
        return [(t, e, a, v) for t, ents in self.entities.items() for e, attrs in ents.items()
                for a, v in attrs.items()]


def packaged_world_text() -> str:
    return resources.files("saesanity.data").joinpath("toyworld.yaml").read_text()


def load_world(path: str | Path | None = None) -> World:
    """Reads and checks a world YAML (the packaged one by default)."""
    if path:
        text, where = Path(path).read_text(), str(path)
    else:
        text, where = packaged_world_text(), "saesanity/data/toyworld.yaml"
    raw = yaml.safe_load(text)
    try:
        countries = raw["countries"]
        cities = {c: {"country": k, **countries[k]} for c, k in raw["cities"].items()}
        people = {p: dict(a) for p, a in raw["people"].items()}
        world = World(
            entities={"city": cities, "person": people},
            templates=raw["attributes"],
            topics=raw["topics"],
            sentiments=raw["sentiments"],
            registers={r: [o.split() for o in v["openers"]] for r, v in raw["registers"].items()},
            patterns=list(raw["topic_patterns"]),
        )
    except KeyError as err:
        raise ConfigError(f"{where}: missing key or unknown country {err}") from None
    _check_world(world, where)
    return world


def _check_world(world: World, where: str) -> None:
    for etype, ents in world.entities.items():
        attrs = {a for e in ents.values() for a in e}
        for attr in attrs:
            tpl = world.templates.get(etype, {}).get(attr)
            if not tpl or not tpl.get("train") or not tpl.get("heldout"):
                raise ConfigError(f"{where}: attributes.{etype}.{attr} needs 'train' and 'heldout' templates")
            overlap = set(tpl["train"]) & set(tpl["heldout"])
            if overlap:
                raise ConfigError(f"{where}: attributes.{etype}.{attr}: templates both train and heldout: {overlap}")
            for t in tpl["train"] + tpl["heldout"]:
                if t.count("{e}") != 1:
                    raise ConfigError(f"{where}: template {t!r} must contain {{e}} exactly once")
        # A held-out prompt is new only if what follows the entity is: otherwise it is a suffix of a
        # training sentence and the model has seen it verbatim.
        seen = {_after_entity(t) for tpl in world.templates.get(etype, {}).values() for t in tpl["train"]}
        for attr, tpl in world.templates.get(etype, {}).items():
            for t in tpl["heldout"]:
                if _after_entity(t) in seen:
                    raise ConfigError(f"{where}: held-out template {t!r} ({etype}.{attr}) ends like a training "
                                      f"template ({_after_entity(t)!r}), so the model has seen it")
    # A word of one kind (entity, answer) must not double as a label word, or tags would be ambiguous.
    names = {e for ents in world.entities.values() for e in ents}
    label_words = {w for t in world.topics.values() for ws in t.values() for w in ws}
    label_words |= {w for s in world.sentiments.values() for ws in s.values() for w in ws}
    clash = names & label_words
    if clash:
        raise ConfigError(f"{where}: entity names also used as label words: {sorted(clash)}")


def _after_entity(template: str) -> str:
    return template.split("{e}", 1)[1]


def _tagged(words: list[str], concept: str, value: str) -> list[tuple[str, str, str]]:
    return [(w, concept, value) for w in words]


class DocumentSampler:
    """Samples tagged documents; all randomness from one numpy Generator."""

    def __init__(self, world: World, cfg: ToyWorldConfig, rng: np.random.Generator):
        self.world, self.cfg, self.rng = world, cfg, rng
        self.facts = world.facts
        self.topics = sorted(world.topics)
        self.sentiments = sorted(world.sentiments)
        self.registers = sorted(world.registers)

    def _pick(self, seq: list) -> Any:
        return seq[int(self.rng.integers(len(seq)))]

    def fact_sentence(self) -> list[tuple[str, str, str]]:
        etype, entity, attr, answer = self._pick(self.facts)
        template = self._pick(self.world.templates[etype][attr]["train"])
        out = []
        for word in template.split():
            out += _tagged([entity], f"entity:{etype}", entity) if word == "{e}" else _tagged([word], NONE, "")
        return out + _tagged([answer], f"attribute:{attr}", answer) + _tagged(["."], NONE, "")

    def topic_sentence(self, topic: str, sentiment: str, register: str) -> list[tuple[str, str, str]]:
        out = []
        if self.rng.random() < self.cfg.opener_probability:
            out += _tagged(self._pick(self.world.registers[register]), f"register:{register}", register)
        pools = {"noun": ("nouns", self.world.topics[topic], f"topic:{topic}", topic),
                 "verb": ("verbs", self.world.topics[topic], f"topic:{topic}", topic),
                 "adj": ("adjectives", self.world.sentiments[sentiment], f"sentiment:{sentiment}", sentiment),
                 "sverb": ("verbs", self.world.sentiments[sentiment], f"sentiment:{sentiment}", sentiment)}
        for word in self._pick(self.world.patterns).split():
            slot = _SLOT.fullmatch(word)
            if slot:
                key, pool, concept, value = pools[slot.group(1)]
                out += _tagged([self._pick(pool[key])], concept, value)
            else:
                out += _tagged([word], NONE, "")
        return out

    def document(self) -> dict[str, Any]:
        c = self.cfg
        topic, sentiment, register = (self._pick(self.topics), self._pick(self.sentiments),
                                      self._pick(self.registers))
        n_topic = int(self.rng.integers(c.min_topic_sentences, c.max_topic_sentences + 1))
        n_fact = int(self.rng.integers(c.min_fact_sentences, c.max_fact_sentences + 1))
        kinds = np.array([0] * n_topic + [1] * n_fact)[self.rng.permutation(n_topic + n_fact)]
        tagged = []
        for kind in kinds:
            tagged += self.fact_sentence() if kind else self.topic_sentence(topic, sentiment, register)
        words, concepts, values = (list(t) for t in zip(*tagged))
        return {"text": " ".join(words), "words": words, "concepts": concepts, "values": values,
                "topic": topic, "sentiment": sentiment, "register": register}


def sample_documents(world: World, cfg: ToyWorldConfig) -> list[dict[str, Any]]:
    """Train documents then held-out documents, from separate seeded streams."""
    docs = []
    for stream, (split, n) in enumerate(zip(SPLITS, (cfg.n_train_docs, cfg.n_heldout_docs))):
        sampler = DocumentSampler(world, cfg, np.random.default_rng([cfg.seed, stream]))
        docs += [{"split": split, **sampler.document()} for _ in range(n)]
    return [{"doc": i, **d} for i, d in enumerate(docs)]


def prompt_rows(world: World) -> list[dict[str, Any]]:
    """Every (entity, attribute, template): the prompt and its one-word answer."""
    rows = []
    for etype, entity, attr, answer in world.facts:
        for split in SPLITS:
            for i, template in enumerate(world.templates[etype][attr][split]):
                rows.append({"entity": entity, "entity_type": etype, "attribute": attr,
                             "template_id": f"{etype}.{attr}.{split}{i}", "template_split": split,
                             "prompt": template.replace("{e}", entity), "answer": answer})
    return rows


def entity_rows(world: World) -> list[dict[str, Any]]:
    attrs = sorted({a for ents in world.entities.values() for e in ents.values() for a in e})
    return [{"entity": e, "entity_type": t, **{a: vals.get(a, "") for a in attrs}}
            for t, ents in world.entities.items() for e, vals in ents.items()]


def _write(rows: list[dict[str, Any]], path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(rows), path, compression="zstd")


def generate(cfg: ToyWorldConfig, out: str | Path) -> None:
    """Writes documents.parquet, prompts.parquet and entities.parquet into `out`, all or nothing."""
    world = load_world(cfg.world or None)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write(sample_documents(world, cfg), tmp / "documents.parquet")
        _write(prompt_rows(world), tmp / "prompts.parquet")
        _write(entity_rows(world), tmp / "entities.parquet")
        (tmp / "config.json").write_text(json.dumps(dataclasses.asdict(cfg), sort_keys=True) + "\n")


def read_documents(folder: str | Path, split: str | None = None) -> pa.Table:
    table = pq.read_table(Path(folder) / "documents.parquet")
    if split is not None:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        table = table.filter(pc.equal(table["split"], split))
    return table
