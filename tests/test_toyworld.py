"""The toy-world corpus: labels, concept tags and prompts agree with the text and the world (planted
checks); generation is deterministic; the tokenizer round-trips."""

from __future__ import annotations

import hashlib

import pandas as pd
import pyarrow.parquet as pq
import pytest
from saesanity.config import ConfigError
from saesanity.data.toyworld import ToyWorldConfig, generate, load_world, packaged_world_text, read_documents
from saesanity.lm.tokenizer import BOS, load_tokenizer


@pytest.fixture(scope="module")
def world():
    return load_world()


@pytest.fixture(scope="module")
def docs(toy_corpus) -> pd.DataFrame:
    return read_documents(toy_corpus).to_pandas()


def test_splits_and_columns(docs):
    assert (docs.split == "train").sum() == 300 and (docs.split == "heldout").sum() == 40
    assert list(docs.doc) == list(range(len(docs)))
    for row in docs.itertuples():
        assert row.text == " ".join(row.words)
        assert len(row.words) == len(row.concepts) == len(row.values)


def test_label_words_carry_the_documents_labels(docs, world):
    """Every topic/sentiment/register-tagged word belongs to that label's vocabulary, and its tag names the
    document's label: the labels are in the text, spread over many words."""
    for row in docs.itertuples():
        labels = {"topic": row.topic, "sentiment": row.sentiment, "register": row.register}
        for word, concept, value in zip(row.words, row.concepts, row.values):
            kind = concept.split(":")[0]
            if kind in labels:
                assert concept == f"{kind}:{labels[kind]}" and value == labels[kind]
            if kind == "topic":
                assert word in world.topics[value]["nouns"] + world.topics[value]["verbs"]
            if kind == "sentiment":
                assert word in world.sentiments[value]["adjectives"] + world.sentiments[value]["verbs"]
            if kind == "register":
                assert any(word in opener for opener in world.registers[value])
        assert any(c == f"topic:{row.topic}" for c in row.concepts)
    # Labels are drawn independently and each carried by several distinct words.
    assert docs.topic.nunique() == len(world.topics) and docs.sentiment.nunique() == 2
    topic_words = {w for r in docs.itertuples() for w, c in zip(r.words, r.concepts) if c == "topic:sports"}
    assert len(topic_words) >= 5


def test_fact_sentences_state_true_facts(docs, world):
    """Each answer-tagged word is the true attribute value of the entity tagged just before it."""
    n_facts = 0
    for row in docs.itertuples():
        entity = None
        for word, concept in zip(row.words, row.concepts):
            if concept.startswith("entity:"):
                entity = (concept.split(":")[1], word)
            elif concept.startswith("attribute:"):
                etype, name = entity
                assert world.entities[etype][name][concept.split(":")[1]] == word
                n_facts += 1
                entity = None
    assert n_facts >= len(docs)  # at least one fact per document


def test_heldout_templates_never_occur_in_training_text(docs, toy_corpus):
    prompts = pq.read_table(toy_corpus / "prompts.parquet").to_pandas()
    train_text = "\n".join(docs[docs.split == "train"].text)
    heldout = prompts[prompts.template_split == "heldout"]
    assert len(heldout) and not any(p in train_text for p in heldout.prompt)
    # Each seen-template prompt appears in training with its answer for some facts (the corpus is small).
    train_prompts = prompts[prompts.template_split == "train"]
    assert sum(f"{p.prompt} {p.answer} ." in train_text for p in train_prompts.itertuples()) > 50


def test_prompts_and_entities_agree_with_the_world(toy_corpus, world):
    prompts = pq.read_table(toy_corpus / "prompts.parquet").to_pandas()
    entities = pq.read_table(toy_corpus / "entities.parquet").to_pandas().set_index("entity")
    for p in prompts.itertuples():
        assert p.entity in p.prompt.split()
        assert entities.loc[p.entity, p.attribute] == p.answer == world.entities[p.entity_type][p.entity][p.attribute]
    assert entities.loc["paris", "continent"] == "europe" and entities.loc["paris", "language"] == "french"
    assert set(prompts.attribute) == {"country", "continent", "language", "field", "gender"}


def test_generation_is_deterministic(tmp_path):
    cfg = ToyWorldConfig(n_train_docs=50, n_heldout_docs=10, seed=7)
    generate(cfg, tmp_path / "a")
    generate(cfg, tmp_path / "b")
    generate(ToyWorldConfig(n_train_docs=50, n_heldout_docs=10, seed=8), tmp_path / "c")
    digest = {k: hashlib.sha256((tmp_path / k / "documents.parquet").read_bytes()).hexdigest() for k in "abc"}
    assert digest["a"] == digest["b"] != digest["c"]


def test_bad_world_is_rejected_naming_the_problem(tmp_path):
    text = packaged_world_text()
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("paris: france", "paris: atlantis"))
    with pytest.raises(ConfigError, match="atlantis"):
        load_world(bad)
    bad.write_text(text.replace('"{e} lies in the country of"', '"lies in the country of"'))
    with pytest.raises(ConfigError, match="exactly once"):
        load_world(bad)


def test_tokenizer_round_trips_and_covers_every_prompt(toy_tokenizer_dir, docs, toy_corpus):
    tok = load_tokenizer(toy_tokenizer_dir)
    assert tok.convert_ids_to_tokens(tok.bos_token_id) == BOS
    for text in docs.text[:50]:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text.split())  # word level: one word, one token
        assert tok.decode(ids) == text
        assert tok.unk_token_id not in ids
    prompts = pq.read_table(toy_corpus / "prompts.parquet").to_pandas()
    for p in prompts.itertuples():  # held-out templates use only words the corpus has
        assert tok.unk_token_id not in tok(f"{p.prompt} {p.answer}", add_special_tokens=False)["input_ids"]


def test_heldout_template_that_ends_like_a_training_one_is_rejected(tmp_path):
    text = packaged_world_text()
    bad = tmp_path / "bad.yaml"
    # "the city of {e} lies in the country of" ends like the training template "{e} lies in the country of".
    bad.write_text(text.replace('"{e} is a city located in the country of"', '"the city of {e} lies in the country of"'))
    with pytest.raises(ConfigError, match="ends like a training"):
        load_world(bad)
