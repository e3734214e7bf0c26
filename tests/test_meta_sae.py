"""Meta-SAEs (arXiv 2502.04878): a planted decoder of known parts is decomposed back into them, random rows
are not, and the attribute-alignment arithmetic holds on a hand-made case."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saesanity.config import ConfigError, SAEConfig, from_dict
from saesanity.sae.io import save_sae
from saesanity.sae.registry import build_sae
from saesanity.studies.concept_links import EntityLatent, attribute_alignment, entity_latents
from saesanity.studies.meta_sae import MetaSAEConfig, meta_metrics, train_meta_sae

D, N_PARTS, N_ROWS = 48, 12, 600
FAST = MetaSAEConfig(d_meta=24, k=4, n_epochs=150, batch_size=128, lr=3e-3, seed=0)


def planted_decoder(seed: int = 0, noise: float = 0.02) -> tuple[torch.Tensor, torch.Tensor]:
    """N_ROWS rows, each a positive combination of 1 to 4 of N_PARTS random unit parts plus small noise; and
    the parts."""
    g = torch.Generator().manual_seed(seed)
    parts = torch.randn(N_PARTS, D, generator=g)
    parts /= parts.norm(dim=1, keepdim=True)
    rows = torch.zeros(N_ROWS, D)
    for i in range(N_ROWS):
        n = int(torch.randint(1, 5, (1,), generator=g))
        which = torch.randperm(N_PARTS, generator=g)[:n]
        coef = 0.5 + torch.rand(n, generator=g)
        rows[i] = coef @ parts[which]
    rows += noise * torch.randn(N_ROWS, D, generator=g)
    return rows / rows.norm(dim=1, keepdim=True), parts


@pytest.fixture(scope="module")
def planted():
    torch.set_num_threads(1)
    rows, parts = planted_decoder()
    return rows, parts, train_meta_sae(rows, FAST)


def test_meta_sae_recovers_the_planted_parts_and_explains_the_decoder(planted):
    rows, parts, meta = planted
    rec, active = meta_metrics(meta, rows)
    W = meta.W_dec.detach()
    cos = (parts @ (W / W.norm(dim=1, keepdim=True)).T).max(1).values
    assert cos.min() >= 0.9, f"parts matched at cosines {sorted(cos.tolist())[:4]}..."
    assert rec["decoder_variance_explained"] > 0.9
    # BatchTopK's threshold is set on these rows: k active per row on average.
    assert rec["mean_active_per_row"] == pytest.approx(FAST.k, rel=0.05)
    assert active.shape == (N_ROWS, FAST.d_meta)
    assert sum(len(m) for m in rec["meta_members"]) == int(active.sum())


def test_meta_sae_explains_little_of_random_rows():
    g = torch.Generator().manual_seed(1)
    rows = torch.randn(N_ROWS, D, generator=g)
    rec, _ = meta_metrics(train_meta_sae(rows, FAST), rows)
    assert rec["decoder_variance_explained"] < 0.5


def test_the_random_rows_baseline_explains_less_than_a_planted_decoder(planted):
    from saesanity.studies.meta_sae import random_rows_variance_explained
    rows, _, meta = planted
    structured = meta_metrics(meta, rows)[0]["decoder_variance_explained"]
    assert random_rows_variance_explained(N_ROWS, D, FAST) < structured - 0.4


def test_the_paper_number_is_printed_only_at_its_ratio(tmp_path):
    from saesanity.atomic import write_json
    from saesanity.studies.stitch_tables import meta_rows
    files = []
    for d_meta, n_base in ((2304, 49152), (256, 4096)):
        meta = {"d_meta": d_meta, "n_base": n_base, "decoder_variance_explained": 0.4,
                "random_rows_variance_explained": 0.1, "mean_active_per_row": 4.0, "dead_meta_fraction": 0.0,
                "rows_without_meta": 0}
        f = tmp_path / f"{n_base}.json"
        write_json(f, {"source": "s", "arch": "topk", "variant": "trained", "seed": 0, "target_l0": 4,
                       "d_sae": n_base, "meta": meta, "attribute_alignment": None})
        files.append(str(f))
    ve = meta_rows(files).query("metric == 'decoder_variance_explained'").set_index("d_sae")
    assert ve.loc[49152, "paper"] == 0.5547 and ve.loc[49152, "note"] == ""
    assert np.isnan(ve.loc[4096, "paper"]) and "this one at 1:16.0" in ve.loc[4096, "note"]


def test_meta_sae_is_deterministic(planted):
    rows, _, meta = planted
    cfg = MetaSAEConfig(**{**FAST.__dict__, "n_epochs": 3})
    a, b = train_meta_sae(rows, cfg), train_meta_sae(rows, cfg)
    assert torch.equal(a.W_dec, b.W_dec) and torch.equal(a.threshold, b.threshold)


def test_meta_config_checks():
    with pytest.raises(ConfigError, match="k"):
        from_dict(MetaSAEConfig, {"k": 0})
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(MetaSAEConfig, {"dmeta": 3})


def _latent(i, etype, entity, **attrs):
    return EntityLatent(i, etype, entity, attrs)


def test_attribute_alignment_arithmetic_on_a_hand_made_case():
    # Four people: a, b from spain (physics, chemistry), c, d from kenya (both medicine); a second latent
    # of person a (same entity: never a pair); one city of spain.
    lat = [_latent(0, "person", "a", country="spain", field="physics", gender="man"),
           _latent(1, "person", "b", country="spain", field="chemistry", gender="woman"),
           _latent(2, "person", "c", country="kenya", field="medicine", gender="man"),
           _latent(3, "person", "d", country="kenya", field="medicine", gender="woman"),
           _latent(4, "person", "a", country="spain", field="physics", gender="man"),
           _latent(5, "city", "madrid", country="spain")]
    active = np.zeros((7, 3), bool)
    active[[0, 1, 4, 5], 0] = True   # meta 0: the Spanish latents
    active[[2, 3], 1] = True         # meta 1: the Kenyan people
    active[6, 2] = True              # base latent 6 is no entity latent
    rec = attribute_alignment(lat, active, min_latents=2, min_pairs=1)
    country = rec["by_attribute"]["country"]
    # Pairs of different entities: 15 pairs minus (0, 4) = 14. Same country: spain among {0,1,4,5}
    # minus (0,4) = 5, plus (2,3) = 6. Sharing a meta-latent: the 5 spanish pairs and (2,3): all same.
    assert (country["pairs_all"], country["pairs_sharing_meta"]) == (14, 6)
    assert country["chance_fraction"] == pytest.approx(6 / 14)
    assert country["shared_fraction"] == 1.0
    assert country["ratio"] == pytest.approx(14 / 6)
    field = rec["by_attribute"]["field"]
    # People only: 5 latents, 10 pairs minus (0,4) = 9; same field: (2,3) and none else -> 1/9.
    # Sharing a meta-latent among people: (0,1), (1,4), (2,3) -> same field only (2,3): 1/3.
    assert (field["pairs_all"], field["pairs_sharing_meta"]) == (9, 3)
    assert field["shared_fraction"] == pytest.approx(1 / 3) and field["chance_fraction"] == pytest.approx(1 / 9)
    gender = rec["by_attribute"]["gender"]
    # Same gender pairs: (0,2), (2,4), (1,3) -> 3/9; among meta pairs (0,1) no, (1,4) no, (2,3) no -> 0.
    assert gender["shared_fraction"] == 0.0 and gender["chance_fraction"] == pytest.approx(3 / 9)
    assert gender["ratio"] == 0.0


def test_attribute_alignment_says_too_few_to_say():
    lat = [_latent(0, "person", "a", country="spain", field="physics", gender="man"),
           _latent(1, "person", "b", country="spain", field="physics", gender="man")]
    active = np.ones((2, 1), bool)
    rec = attribute_alignment(lat, active)  # defaults: 8 latents, 20 pairs
    for a in ("country", "field", "gender"):
        assert rec["by_attribute"][a]["shared_fraction"] is None and rec["by_attribute"][a]["ratio"] is None
        assert rec["by_attribute"][a]["note"].startswith("too few to say")


def test_entity_latents_reads_people_and_cities_above_the_floor():
    names = ["entity:city=paris", "entity:person=alvaro", "topic:travel"]
    f1 = np.array([[0.9, 0.1, 0.0], [0.1, 0.5, 0.2], [0.0, 0.1, 0.8], [0.15, 0.0, 0.0]])
    ents = {"city": {"paris": {"country": "france"}},
            "person": {"alvaro": {"country": "spain", "field": "physics", "gender": "man"}}}
    got = entity_latents(f1, names, ents, floor=0.2)
    assert [(e.latent, e.entity_type, e.entity) for e in got] == [(0, "city", "paris"), (1, "person", "alvaro")]
    assert got[0].attributes == {"country": "france"}


def test_meta_sae_cli(tmp_path, planted):
    from saesanity.cli import main
    rows, _, _ = planted
    sae = build_sae(SAEConfig(arch="topk", d_in=D, d_sae=N_ROWS, target_l0=4))
    sae.load_saelens_tensors({"W_enc": rows.T.clone(), "b_enc": torch.zeros(N_ROWS), "W_dec": rows.clone(),
                              "b_dec": torch.zeros(D)})
    save_sae(sae, tmp_path / "base", {"source": "planted"})
    spec = json.dumps({**FAST.__dict__, "n_epochs": 20})
    main(["meta-sae", "--sae", str(tmp_path / "base"), "--spec", spec, "--out", str(tmp_path / "meta.json")])
    rec = json.loads((tmp_path / "meta.json").read_text())
    assert rec["arch"] == "topk" and rec["source"] == "planted" and rec["d_sae"] == N_ROWS
    assert rec["meta"]["n_base"] == N_ROWS and 0 < rec["meta"]["decoder_variance_explained"] <= 1
    assert rec["attribute_alignment"] is None
    assert -1 < rec["meta"]["random_rows_variance_explained"] < rec["meta"]["decoder_variance_explained"]
