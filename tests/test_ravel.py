"""RAVEL-style causal editing: MDBM on planted latents, the score, the data loaders, the patched forward of a
real (tiny) transformer, and ravel.json from the tiny end-to-end run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import yaml
from saesanity.config import ConfigError, from_dict
from saesanity.data.toyworld import entity_rows, load_world, prompt_rows
from saesanity.evals.ravel.mdbm import (Examples, MaskTraining, accuracy, edit_delta, hard_mask, hits, pair_score,
                                         train_mask)
from saesanity.evals.ravel.editing import ExampleBuilder, PromptModel, RavelConfig
from saesanity.evals.ravel.data import RavelDataError, load_ravel, load_toyworld, ravel_file_names

REPO = Path(__file__).resolve().parents[1]


class PlantedModel:
    """A linear 'model' over 6 latents with orthonormal decoder rows: latent 0 is attribute A, latent 1 is
    attribute B, latent 3 is A + B (entangled), latent 2 is constant, 4 and 5 are noise that no readout sees.
    A prompt about A answers 1 iff x.W_dec[0] + 0.1 x.W_dec[3] > 0.6 (iff A = 1); a prompt about B iff
    x.W_dec[1] + 0.6 x.W_dec[3] > 1 (iff B = 1). So B's edit needs latents 1 and 3, while A's edit must leave
    latent 3 alone: patching it would change B. The activation also carries an error term."""

    def __init__(self, seed: int = 0):
        g = torch.Generator().manual_seed(seed)
        values = [(a, b) for a in (0, 1) for b in (0, 1)] * 2  # 8 entities, every combination twice
        self.entity_values = values
        # Prompt 2e asks entity e about A, prompt 2e + 1 about B.
        self.asks_b_P = torch.tensor([i % 2 for i in range(2 * len(values))], dtype=torch.bool)
        z = []
        for a, b in values:
            for _ in range(2):
                noise = torch.rand(2, generator=g) + 0.5
                z.append([a, b, 1.0, a + b, *noise.tolist()])
        self.z_PKF = torch.tensor(z)[:, None, :]
        q, _ = torch.linalg.qr(torch.randn(8, 8, generator=g))
        self.W_dec_FD = q[:6]
        self.x_PKD = self.z_PKF @ self.W_dec_FD + 0.02 * torch.randn(len(z), 1, 8, generator=g)

    def patched_logits(self, base_B: torch.Tensor, delta_BKD: torch.Tensor) -> torch.Tensor:
        proj_BF = (self.x_PKD[base_B] + delta_BKD)[:, 0] @ self.W_dec_FD.T
        asks_b = self.asks_b_P[base_B]
        margin_B = torch.where(asks_b, proj_BF[:, 1] + 0.6 * proj_BF[:, 3] - 1.0,
                               proj_BF[:, 0] + 0.1 * proj_BF[:, 3] - 0.6)
        return torch.stack([torch.zeros_like(margin_B), 20 * margin_B], dim=1)

    def examples(self, ask_b: bool, expect_source: bool) -> Examples:
        """Every (base entity, source entity) whose values of the asked attribute differ."""
        col = int(ask_b)
        rows = []
        for eb, vb in enumerate(self.entity_values):
            for es, vs in enumerate(self.entity_values):
                if vb[col] != vs[col]:
                    for src_prompt in (2 * es, 2 * es + 1):
                        rows.append((2 * eb + col, src_prompt, vs[col] if expect_source else vb[col]))
        return Examples(*(torch.tensor(c) for c in zip(*rows)))


def test_mdbm_finds_the_planted_attribute_latent():
    m = PlantedModel()
    cause_a, iso_b = m.examples(False, True), m.examples(True, False)
    cause_b, iso_a = m.examples(True, True), m.examples(False, False)
    cfg = MaskTraining(steps=100, batch_size=32, lr=0.05)
    mask_a = hard_mask(train_mask(m.z_PKF, m.W_dec_FD, m.patched_logits, cause_a, iso_b, cfg))
    mask_b = hard_mask(train_mask(m.z_PKF, m.W_dec_FD, m.patched_logits, cause_b, iso_a, cfg))
    # A's mask keeps A's latent and neither B's nor the entangled one (isolation of B); B's needs both B's and
    # the entangled one (cause); latents that move nothing (constant 2, unread noise 4, 5) stay out.
    assert mask_a.tolist() == [1, 0, 0, 0, 0, 0]
    assert mask_b.tolist() == [0, 1, 0, 1, 0, 0]

    def acc(ex: Examples, mask: torch.Tensor) -> float | None:
        return accuracy(hits(m.z_PKF, m.W_dec_FD, m.patched_logits, ex, mask, batch_size=50))

    assert acc(cause_a, mask_a) == 1.0 and acc(iso_b, mask_a) == 1.0
    assert acc(cause_b, mask_b) == 1.0 and acc(iso_a, mask_b) == 1.0
    # Patching everything causes A but breaks B's isolation: the planted setup can tell the two apart.
    assert acc(cause_a, torch.ones(6)) == 1.0 and acc(iso_b, torch.ones(6)) < 0.5


def test_zero_mask_is_the_identity_and_training_is_seeded():
    m = PlantedModel()
    ex = m.examples(False, True)
    assert torch.equal(edit_delta(m.z_PKF, m.W_dec_FD, ex, torch.zeros(6)), torch.zeros(len(ex), 1, 8))
    # The unpatched model answers every base right: with no latent patched, no cause example succeeds.
    assert accuracy(hits(m.z_PKF, m.W_dec_FD, m.patched_logits, ex, torch.zeros(6))) == 0.0
    cfg = MaskTraining(steps=20, batch_size=8, lr=0.05, seed=3)
    runs = [train_mask(m.z_PKF, m.W_dec_FD, m.patched_logits, ex, m.examples(True, False), cfg) for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


def test_pair_score_is_the_mean_of_cause_and_isolation():
    assert pair_score(1.0, 0.5, 0.75, 0.25) == pytest.approx(0.625)
    assert pair_score(1.0, None, 1.0, 1.0) is None


def _toy_tables(folder: Path) -> Path:
    world = load_world()
    folder.mkdir()
    pq.write_table(pa.Table.from_pylist(prompt_rows(world)), folder / "prompts.parquet")
    pq.write_table(pa.Table.from_pylist(entity_rows(world)), folder / "entities.parquet")
    return folder


def _write_ravel(folder: Path, etype: str, attrs: list[str]) -> None:
    """The toy world's entities of one type in RAVEL's public JSON layout (capitalised attribute names, '%s'
    templates, RAVEL's split names)."""
    world = load_world()
    folder.mkdir(exist_ok=True)
    ents = {e: {a.capitalize(): v[a] for a in attrs} for e, v in world.entities[etype].items()}
    prompts = {a.capitalize(): [t.replace("{e}", "%s") for s in ("train", "heldout")
                                for t in world.templates[etype][a][s]] for a in attrs}
    splits = {t.replace("{e}", "%s"): ("train" if s == "train" else "test")
              for a in attrs for s in ("train", "heldout") for t in world.templates[etype][a][s]}
    for name, obj in zip(ravel_file_names(etype), (ents, prompts, splits)):
        (folder / name).write_text(json.dumps(obj))


def test_ravel_files_give_the_same_prompts_as_the_toy_world(tmp_path):
    toy = load_toyworld(_toy_tables(tmp_path / "corpus"))
    _write_ravel(tmp_path / "ravel", "person", ["country", "field", "gender"])
    rav = load_ravel(tmp_path / "ravel", ["person"])

    def key(p: dict) -> tuple:
        return p["entity"], p["attribute"].lower(), p["template_split"], p["prompt"], p["answer"], p["entity_end"]

    assert sorted(map(key, rav.prompts)) == sorted(key(p) for p in toy.prompts if p["entity_type"] == "person")
    for p in rav.prompts:
        assert p["prompt"][:p["entity_end"]].endswith(p["entity"])
    assert rav.value("person", "alvaro", "Field") == toy.value("person", "alvaro", "field") == "physics"
    # Subsampling is seeded and keeps whole entities.
    sub = load_ravel(tmp_path / "ravel", ["person"], max_entities=5, max_templates=1, seed=1)
    assert len(sub.entities["person"]) == 5 and {p["entity"] for p in sub.prompts} == set(sub.entities["person"])
    assert len(sub.prompts) == 5 * 3 * 2
    assert sub == load_ravel(tmp_path / "ravel", ["person"], max_entities=5, max_templates=1, seed=1)


def test_ravel_data_errors_name_the_files(tmp_path):
    with pytest.raises(RavelDataError, match="ravel_city_entity_attributes.json.*ravel_city_prompt_to_split.json"):
        load_ravel(tmp_path, ["city"])
    _write_ravel(tmp_path, "city", ["country"])
    (tmp_path / "ravel_city_prompt_to_split.json").write_text(json.dumps({"%s lies in the country of": "dev"}))
    with pytest.raises(RavelDataError, match="split 'dev'"):
        load_ravel(tmp_path, ["city"])
    with pytest.raises(RavelDataError, match="prompts.parquet"):
        load_toyworld(tmp_path)


def test_config_checks_and_schema_defaults():
    with pytest.raises(ConfigError, match="evals.ravel.pairs"):
        from_dict(RavelConfig, {"pairs": [["person", "field", "field"]]}, "evals.ravel")
    with pytest.raises(ConfigError, match="sites"):
        from_dict(RavelConfig, {"sites": "last"}, "evals.ravel")
    with pytest.raises(ConfigError, match="unknown key"):
        from_dict(RavelConfig, {"step": 3}, "evals.ravel")
    schema = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
    props = schema["properties"]["evals"]["properties"]["ravel"]["properties"]
    props = {k: v for k, v in props.items() if k != "seeds"}  # which SAEs RAVEL scores: the pipeline's key
    assert {k: v["default"] for k, v in props.items()} == {k: getattr(RavelConfig(), k) for k in props}
    cfg = RavelConfig(pairs=[["person", "country", "field"], ["person", "field", "gender"]])
    assert cfg.masked_attributes() == [("person", "country"), ("person", "field"), ("person", "gender")]
    assert cfg.partners("person", "field") == ["gender", "country"]


HOOK = "blocks.1.hook_resid_pre"


def _person_prompts(corpus: Path, n_entities: int = 3) -> list[dict]:
    data = load_toyworld(corpus)
    keep = sorted(data.entities["person"])[:n_entities]
    return [p for p in data.prompts if p["entity"] in keep]


@pytest.mark.parametrize("hook, sites", [(HOOK, "entity_to_end"), ("blocks.0.hook_resid_post", "entity_to_end"),
                                         ("blocks.0.hook_resid_pre", "entity")])
def test_patching_every_latent_of_an_identity_sae_runs_the_source(toy_lm, toy_corpus, hook, sites):
    """With z = x and W_dec = I, a full mask turns the base run into the source run (same template, so the
    tokens before the sites agree) and an empty mask leaves it alone; blocks.1.hook_resid_pre resumes from
    the cached activations, blocks.0.hook_resid_post reruns the model with a hook: same numbers."""
    prompts = _person_prompts(toy_corpus)
    model = PromptModel(toy_lm, hook, prompts, sites, forward_batch=7)
    x_PKD = model.site_activations()
    assert x_PKD.shape[:2] == model.valid_PK.shape and not x_PKD[~model.valid_PK].any()
    index = {(p["template_id"], p["entity"]): i for i, p in enumerate(prompts)}
    pairs = [(i, index[(p["template_id"], e)]) for i, p in enumerate(prompts)
             for e in sorted({q["entity"] for q in prompts}) if e != p["entity"]]
    ex = Examples(torch.tensor([b for b, _ in pairs]), torch.tensor([s for _, s in pairs]), torch.zeros(len(pairs)))
    eye = torch.eye(toy_lm.d_model)
    with torch.no_grad():
        # Right padding: with causal attention the last real position is the prompt's own.
        clean = toy_lm.logits(model.tokens_PT)[torch.arange(len(prompts)), model.last_P]
        full = model.patched_logits(ex.base, edit_delta(x_PKD, eye, ex, torch.ones(toy_lm.d_model)))
        none = model.patched_logits(ex.base, edit_delta(x_PKD, eye, ex, torch.zeros(toy_lm.d_model)))
    torch.testing.assert_close(full, clean[ex.source], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(none, clean[ex.base], atol=1e-4, rtol=1e-4)


def test_examples_pair_entities_that_differ(toy_lm, toy_corpus):
    data = load_toyworld(toy_corpus)
    model = PromptModel(toy_lm, HOOK, data.prompts, "entity_to_end", forward_batch=256)
    build = ExampleBuilder(data, model, np.ones(len(data.prompts), dtype=bool), same_template=True)
    rng = np.random.default_rng(0)
    for expect in ("source", "base"):
        ex = build.examples("person", "gender", "heldout", ["gender", "field"], expect, 50, rng)
        assert len(ex) == 50
        for b, s, t in zip(*(c.tolist() for c in ex)):
            pb, ps = data.prompts[b], data.prompts[s]
            assert pb["attribute"] == "gender" and pb["template_split"] == "heldout"
            assert pb["template_id"] == ps["template_id"] and pb["entity"] != ps["entity"]
            vb, vs = (data.value("person", p["entity"], "gender") for p in (pb, ps))
            assert vb != vs
            assert toy_lm.tokenizer.convert_ids_to_tokens(t) == (vs if expect == "source" else vb)


def test_tiny_run_writes_ravel_json_for_every_lm_sae(tiny_run):
    saes = sorted((tiny_run / "results/saes").glob("toyworld-*/*/*/seed*"))
    assert saes
    for sae in saes:
        rel = sae.relative_to(tiny_run / "results/saes")
        rec = json.loads((tiny_run / "results/metrics" / rel / "ravel.json").read_text())
        assert (rec["source"], rec["arch"], rec["variant"], f"seed{rec['seed']}") == rel.parts
        assert len(rec["pairs"]) == 3 and len(rec["masks"]) == 3
        values = [rec["score"], rec["cause"], rec["isolation"]] + [p[k] for p in rec["pairs"] for k in
                                                                   ("cause_a", "cause_b", "iso_ab", "iso_ba", "score")]
        assert all(v is None or 0 <= v <= 1 for v in values)
        assert 0 <= rec["clean_accuracy"] <= 1


def test_a_prepared_prompt_model_scores_like_one_that_runs_the_model(toy_lm, toy_corpus, tmp_path):
    """ravel_prep's saved state (activations at the hook, the clean answers, the resumable residual) gives
    eval_ravel the same scores as running the model in the job; a state of other prompts is refused."""
    from safetensors.torch import load_file, save_file
    from saesanity.evals.ravel.editing import ravel_scores
    data = load_toyworld(toy_corpus)
    cfg = RavelConfig(pairs=[["person", "field", "gender"]], steps=3, n_train=32, n_eval=16, batch_size=8)
    ran = PromptModel(toy_lm, HOOK, data.prompts, cfg.sites, cfg.forward_batch)
    ran.run_clean()
    assert sorted(ran.clean_state()) == ["clean_P", "resid_PTD", "x_PKD"]
    save_file(ran.clean_state(), str(tmp_path / "clean.safetensors"))
    loaded = PromptModel(toy_lm, HOOK, data.prompts, cfg.sites, cfg.forward_batch)
    loaded.load_clean(load_file(str(tmp_path / "clean.safetensors")))
    for name, t in ran.clean_state().items():
        assert torch.equal(loaded.clean_state()[name], t), name
    identity_z, identity_W = ran.x_PKD, torch.eye(toy_lm.d_model)  # an SAE whose latents are the activations
    scores = ravel_scores(ran, identity_z, identity_W, data, cfg)
    assert ravel_scores(loaded, identity_z, identity_W, data, cfg) == scores
    # Each part's accuracy is the mean of its examples' hits (the sanity verdict's items).
    for pair in scores["pairs"]:
        for part, hits in pair["hits"].items():
            assert len(hits) == pair[f"n_{part}"] and set(hits) <= {0, 1}
            assert pair[part] == (sum(hits) / len(hits) if hits else None)
    fewer = PromptModel(toy_lm, HOOK, data.prompts[:-1], cfg.sites, cfg.forward_batch)
    with pytest.raises(ValueError, match="rebuild it"):
        fewer.load_clean(load_file(str(tmp_path / "clean.safetensors")))
