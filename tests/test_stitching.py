"""SAE stitching (arXiv 2502.04878) on a planted case: the larger SAE is the smaller one's latents (permuted)
plus known extra directions that carry real signal in the data, both built by hand with encoder = decoder
transposed. The extra directions must be novel and the copies not, inserting them must lower the MSE, and
the curve must run from exactly MSE(S) to exactly MSE(L)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from saesanity.config import ConfigError, SAEConfig, from_dict
from saesanity.data.store import ActivationStore, ShardWriter
from saesanity.evals.core import evaluate_core
from saesanity.sae.io import save_sae
from saesanity.sae.registry import build_sae
from saesanity.studies.concept_links import new_concepts
from saesanity.studies.stitching import (Classification, StitchingConfig, classify, insertion_delta, plan_points,
                                         stitched_reconstruct, stitching_curve, stitching_plan)

D, N_S, N_EXTRA, N_ROWS = 32, 16, 8, 4096
CFG = StitchingConfig(insert_groups=4, swap_groups=4, chunk_rows=1024)


def _sae(arch: str, W_FD: torch.Tensor, b_dec: torch.Tensor, k: int = 6):
    sae = build_sae(SAEConfig(arch=arch, d_in=W_FD.shape[1], d_sae=len(W_FD), target_l0=k))
    sae.load_saelens_tensors({"W_enc": W_FD.T.clone(), "b_enc": torch.zeros(len(W_FD)), "W_dec": W_FD.clone(),
                              "b_dec": b_dec.clone()})
    return sae.eval()


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    """Orthonormal directions: 16 of S, 8 extra, and an offset `delta` orthogonal to all 24. x = m + sum of
    ~3 of the 24 directions with positive coefficients + small noise. S (ReLU) has S's 16 directions and
    b_dec = m + delta (wrong by delta, which its encoder cannot see); L (TopK, k = 6) has all 24, permuted,
    and b_dec = m."""
    g = torch.Generator().manual_seed(0)
    Q, _ = torch.linalg.qr(torch.randn(D, D, generator=g, dtype=torch.float64))
    Q = Q.T.float()
    dirs, delta = Q[:N_S + N_EXTRA], 0.3 * Q[N_S + N_EXTRA]
    m = torch.randn(D, generator=g)
    active = torch.rand(N_ROWS, N_S + N_EXTRA, generator=g) < 3 / (N_S + N_EXTRA)
    coef = active * (0.5 + torch.rand(N_ROWS, N_S + N_EXTRA, generator=g))
    # At most k = 6 active per row, so TopK keeps them all.
    coef[active.sum(1) > 6] = 0
    x = m + coef @ dirs + 0.01 * torch.randn(N_ROWS, D, generator=g)
    folder = tmp_path_factory.mktemp("stitch")
    w = ShardWriter(folder / "heldout", D, "float32")
    for i in range(0, N_ROWS, 1024):
        w.write(x[i:i + 1024].numpy())
    w.close()
    perm = torch.randperm(N_S + N_EXTRA, generator=g)
    small = _sae("relu", dirs[:N_S], m + delta)
    large = _sae("topk", dirs[perm], m)
    return small, large, perm.numpy(), ActivationStore.open(folder / "heldout"), folder


def test_extra_directions_are_novel_and_copies_are_not(planted):
    small, large, perm, _, _ = planted
    cls = classify(small.W_dec, large.W_dec, 0.7)
    np.testing.assert_array_equal(cls.novel, perm >= N_S)
    copies = perm < N_S
    np.testing.assert_array_equal(cls.parent[copies], perm[copies])
    assert np.allclose(cls.max_cos[copies], 1, atol=1e-5) and (cls.max_cos[~copies] < 1e-5).all()


def test_curve_runs_from_exactly_S_to_exactly_L_and_novel_latents_lower_the_mse(planted):
    small, large, _, store, _ = planted
    rec, cls = stitching_curve(small, large, store, StitchingConfig(insert_groups=4, swap_groups=4, chunk_rows=8192))
    assert rec["novelty"] == "insertion" and rec["n_novel_curve"] == N_EXTRA
    # Here the two tests agree on every latent, so the proxy's curve passes through the same points.
    by_proxy, _ = stitching_curve(small, large, store, StitchingConfig(insert_groups=4, swap_groups=4,
                                                                       chunk_rows=8192, novelty="cosine"))
    assert by_proxy["curve"][4]["mse"] == pytest.approx(rec["curve"][4]["mse"], rel=1e-12)
    # Ends: the numbers evaluate_core measures for S and L alone (same chunks, same float64 sums).
    assert rec["mse_small"] == evaluate_core(small, store).mse
    assert rec["mse_large"] == evaluate_core(large, store).mse
    assert rec["n_novel"] == N_EXTRA and rec["fraction_novel"] == N_EXTRA / (N_S + N_EXTRA)
    curve = rec["curve"]
    assert [p["phase"] for p in curve] == ["small"] + ["insert"] * 4 + ["swap"] * 4
    assert [p["n_latents"] for p in curve] == [16, 18, 20, 22, 24, 24, 24, 24, 24]
    mse = np.array([p["mse"] for p in curve])
    # Every inserted group carries signal S misses: the error falls at each step.
    assert (np.diff(mse[:5]) < 0).all()
    # After all novel latents S + novel has L's directions and activations: only S's bias error, ||delta||^2
    # = 0.09, separates it from L, whose error is the noise its latents miss (below 32 * 1e-4 in all).
    assert rec["mse_all_novel"] - rec["mse_large"] == pytest.approx(0.09, rel=0.02)
    assert rec["mse_large"] < 32e-4 and rec["mse_all_novel"] < 0.1 * rec["mse_small"]
    # Swapping identical copies changes only the bias, which moves towards L's: the error keeps falling.
    assert (np.diff(mse[4:]) < 0).all()
    # Inserting the copies of S's own latents doubles them: worse than S.
    assert rec["mse_reconstruction_inserted"] > rec["mse_small"]
    # The paper's own test, latent by latent, agrees with the proxy here: each extra direction lowers S's
    # error alone, each copy raises it.
    assert rec["n_novel_by_insertion"] == N_EXTRA and rec["proxy_agreement"] == 1.0
    assert rec["proxy_novel_lowering"] == 1.0 and rec["proxy_reconstruction_lowering"] == 0.0
    assert rec["max_cos_histogram"]["counts"][0] == N_EXTRA and rec["max_cos_histogram"]["counts"][-1] == N_S


def test_insertion_delta_is_the_change_in_squared_error():
    """The closed form against inserting each latent and measuring S's summed squared error directly."""
    g = torch.Generator().manual_seed(1)
    r_BD, z_BF, W_FD = (torch.randn(*s, generator=g, dtype=torch.float64) for s in ((50, 6), (50, 4), (4, 6)))
    direct = torch.stack([(r_BD - z_BF[:, [j]] * W_FD[j]).pow(2).sum() - r_BD.pow(2).sum() for j in range(4)])
    torch.testing.assert_close(insertion_delta(r_BD, z_BF, W_FD), direct)


def test_stitched_reconstruct_matches_the_curve_and_is_S_and_L_at_the_ends(planted):
    small, large, _, store, _ = planted
    cls = classify(small.W_dec, large.W_dec, 0.7)
    points = plan_points(stitching_plan(cls, N_S, 4, 4), N_S, N_S + N_EXTRA)
    x = torch.from_numpy(store.read_all(limit=512))
    assert stitched_reconstruct(small, large, points[0]) is small
    assert stitched_reconstruct(small, large, points[-1]) is large
    seen = []

    def loss_fn(reconstruct):
        x_hat = reconstruct(x)
        seen.append(float((x - x_hat).pow(2).sum(1).mean()))
        return {"ce_sae": seen[-1]}
    rec, _ = stitching_curve(small, large, store, StitchingConfig(insert_groups=4, swap_groups=4, ce_points=3,
                                                                  max_rows=512), loss_fn)
    with_ce = [p for p in rec["curve"] if "ce_sae" in p]
    assert [p["point"] for p in with_ce] == [0, 4, 8]
    # loss_fn's reconstruction at a point is the one the curve measured there.
    for p in with_ce:
        assert p["ce_sae"] == pytest.approx(p["mse"], rel=1e-5)


def test_plan_swaps_families_and_drops_childless_latents_last():
    # S has 3 latents; L: latent 0 novel, 1 and 2 children of S latent 1, 3 child of S latent 0;
    # S latent 2 has no child.
    max_cos = np.array([0.1, 0.8, 0.95, 0.9])
    cls = Classification(max_cos=max_cos, parent=np.array([2, 1, 1, 0]), novel=np.array([True, False, False, False]),
                         score=max_cos)
    groups = stitching_plan(cls, 3, insert_groups=5, swap_groups=5)
    assert [(g.phase, g.add_large.tolist(), g.remove_small.tolist()) for g in groups] == [
        ("insert", [0], []),
        ("swap", [1, 2], [1]),   # the family whose closest child is closest (0.95) first
        ("swap", [3], [0, 2]),   # the last group takes the childless S latent 2 with it
    ]
    points = plan_points(groups, 3, 4)
    assert points[-1].keep_large.all() and not points[-1].keep_small.any()
    assert [p.w_small() for p in points] == [1, 1, 2 / 3, 0]
    # By the paper's test (the default): latents 2 and 0 lower S's error, 2 the most, so it goes in first
    # although its cosine (0.95) calls it a copy; 1 and 3 raise it and join their parents' families (3's,
    # cosine 0.9, first); S latents 1 and 2 leave last, 2 now childless.
    by_test = stitching_plan(cls.by_insertion(np.array([-1.0, 0.5, -4.0, 2.0])), 3, insert_groups=5, swap_groups=5)
    assert [(g.phase, g.add_large.tolist(), g.remove_small.tolist()) for g in by_test] == [
        ("insert", [2], []), ("insert", [0], []), ("swap", [3], [0]), ("swap", [1], [1, 2])]


def test_new_concepts_against_the_small_saes_best():
    names = ["topic:travel", "entity:city=paris", "token=the"]
    f1_S = np.array([[0.9, 0.3, 0.0], [0.1, 0.1, 0.6]])
    f1_L = np.array([[0.2, 0.7, 0.0],    # novel: paris 0.7 > S's best 0.3 -> new concept
                     [0.8, 0.0, 0.0],    # novel: travel 0.8 < 0.9 -> split/other
                     [0.0, 0.15, 0.0],   # novel: paris 0.15 below the floor
                     [0.0, 0.0, 0.65]])  # reconstruction: token=the 0.65 > 0.6 -> new concept
    rec = new_concepts(f1_S, f1_L, np.array([True, True, True, False]), names, floor=0.2)
    assert (rec["novel"]["n"], rec["novel"]["n_new_concept"]) == (3, 1)
    assert rec["novel"]["fraction_new_concept"] == pytest.approx(1 / 3)
    assert rec["novel"]["examples"][0] == {"latent": 0, "concept": "entity:city=paris", "f1": 0.7, "best_small_f1": 0.3}
    assert rec["novel"]["new_concepts_by_kind"] == {"value": 1}
    assert rec["reconstruction"]["fraction_new_concept"] == 1.0
    assert rec["reconstruction"]["new_concepts_by_kind"] == {"token": 1}


def test_config_checks():
    with pytest.raises(ConfigError, match="threshold"):
        from_dict(StitchingConfig, {"threshold": 2})
    with pytest.raises(ConfigError, match="unknown"):
        from_dict(StitchingConfig, {"thresold": 0.5})


def test_cli_stitching_and_tables(planted, tmp_path):
    from saesanity.cli import main
    small, large, _, store, _ = planted
    save_sae(small, tmp_path / "small", {"source": "planted"})
    save_sae(large, tmp_path / "large", {"source": "planted"})
    spec = json.dumps({"insert_groups": 2, "swap_groups": 2})
    main(["stitching", "--small", str(tmp_path / "small"), "--large", str(tmp_path / "large"),
          "--data", str(store.folder), "--spec", spec, "--out", str(tmp_path / "s.json")])
    rec = json.loads((tmp_path / "s.json").read_text())
    assert rec["small"]["d_sae"] == N_S and rec["large"]["d_sae"] == N_S + N_EXTRA
    assert rec["source"] == "planted" and rec["pair_note"] == "S and L differ in ['arch']"
    assert rec["n_novel"] == N_EXTRA and len(rec["curve"]) == 5 and rec["concepts"] is None
    studies = tmp_path / "studies"
    main(["studies", "--stitching", str(tmp_path / "s.json"), "--out", str(studies)])
    import pandas as pd
    t = pd.read_csv(studies / "studies_stitching.csv")
    row = t[t.metric == "fraction_novel"].iloc[0]
    assert row.value == pytest.approx(N_EXTRA / (N_S + N_EXTRA)) and row.paper == 0.35
    assert len(pd.read_csv(studies / "studies_stitching_curves.csv")) == 5
    # The figures draw from the tables, and none where its study has no records (no meta-SAE here).
    for name in ("studies_stitching_curves", "studies_novel_fraction"):
        assert (studies / f"{name}.png").stat().st_size > 1000
    assert not (studies / "studies_meta_ve.png").exists() and not (studies / "probing_regimes.png").exists()


ENTITIES = [("person", "alvaro"), ("person", "tomas"), ("person", "chidi"), ("person", "olufemi"),
            ("city", "madrid"), ("city", "nairobi")]


def test_novel_city_latents_are_new_concepts_end_to_end(tmp_path):
    """A toy corpus whose tokens are people (S's latents and L's copies of them) or cities (L's novel
    latents), read through the store's doc/pos columns and documents.parquet as the concept check does."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from saesanity.cli import main
    rng = np.random.default_rng(0)
    docs, rows, which = [], [], []
    for d in range(200):
        words, concepts, values = [], [], []
        for p in range(20):
            if rng.random() < 0.3:
                e = int(rng.integers(len(ENTITIES)))
                words.append(ENTITIES[e][1]), concepts.append(f"entity:{ENTITIES[e][0]}"), values.append(ENTITIES[e][1])
            else:
                e = -1
                words.append("the"), concepts.append("none"), values.append("")
            rows.append((d, p + 1))
            which.append(e)
        docs.append({"doc": d, "words": words, "concepts": concepts, "values": values})
    pq.write_table(pa.Table.from_pylist(docs), tmp_path / "documents.parquet")
    which = np.array(which)
    x = np.zeros((len(which), 16), np.float32)
    x[which >= 0, which[which >= 0]] = rng.uniform(1, 2, (which >= 0).sum())
    w = ShardWriter(tmp_path / "heldout", 16, "float32", {"hook": "toy"})
    w.write(x, doc=np.array([r[0] for r in rows], np.int64), pos=np.array([r[1] for r in rows], np.int32),
            token_id=np.zeros(len(rows), np.int32))
    w.close()
    eye = torch.eye(16)
    for name, n in (("small", 4), ("large", 6)):
        sae = build_sae(SAEConfig(arch="relu", d_in=16, d_sae=n, target_l0=1))
        sae.load_saelens_tensors({"W_enc": eye[:n].T.clone(), "b_enc": torch.zeros(n), "W_dec": eye[:n].clone(),
                                  "b_dec": torch.zeros(16)})
        save_sae(sae, tmp_path / name, {"source": "toy"})
    main(["stitching", "--small", str(tmp_path / "small"), "--large", str(tmp_path / "large"), "--data",
          str(tmp_path / "heldout"), "--documents", str(tmp_path / "documents.parquet"), "--out", str(tmp_path / "s.json")])
    c = json.loads((tmp_path / "s.json").read_text())["concepts"]
    assert (c["novel"]["n"], c["novel"]["n_new_concept"]) == (2, 2)
    assert {e["concept"] for e in c["novel"]["examples"]} == {"entity:city=madrid", "entity:city=nairobi"}
    assert c["novel"]["examples"][0]["f1"] == 1.0 and c["novel"]["examples"][0]["best_small_f1"] == 0.0
    # The copies of S's latents detect S's concepts exactly as well as S: no new concept.
    assert (c["reconstruction"]["n"], c["reconstruction"]["n_new_concept"]) == (4, 0)
    main(["meta-sae", "--sae", str(tmp_path / "large"), "--spec", json.dumps({"d_meta": 4, "n_epochs": 5}),
          "--data", str(tmp_path / "heldout"), "--documents", str(tmp_path / "documents.parquet"),
          "--out", str(tmp_path / "m.json")])
    align = json.loads((tmp_path / "m.json").read_text())["attribute_alignment"]
    # Six entity latents, each the best detector of its entity; fewer than 8: too few to say.
    assert align["n_entity_latents"] == 6
    assert align["by_attribute"]["country"]["ratio"] is None
    assert align["by_attribute"]["country"]["note"].startswith("too few to say")


def test_cli_stitching_with_a_model_and_the_toy_corpus(toy_lm, toy_corpus, tmp_path):
    """CE loss through the language model at the curve's points (the ends: exactly what spliced_loss gives
    S and L alone), and the concept check on a real toy-world corpus and harvest."""
    from saesanity.cli import main
    from saesanity.evals.lm_loss import heldout_documents, spliced_loss
    from saesanity.lm.harvest import HarvestConfig, harvest
    from saesanity.lm.model import ToyModelConfig, load_toy_model, save_toy_model
    from saesanity.lm.text import TextSource, documents
    hook = "blocks.1.hook_resid_pre"
    save_toy_model(toy_lm, ToyModelConfig(d_model=16, n_layers=2, n_heads=2, d_mlp=32, n_ctx=64), tmp_path / "lm", {})
    lm = load_toy_model(tmp_path / "lm")
    harvest(lm, hook, list(documents(TextSource("toyworld", str(toy_corpus), split="heldout"))), tmp_path / "heldout",
            HarvestConfig(n_tokens=10**9, batch_docs=8, shard_rows=500))
    store = ActivationStore.open(tmp_path / "heldout")
    g = torch.Generator().manual_seed(0)
    saes = {}
    for name, n in (("small", 24), ("large", 48)):
        W = torch.randn(n, 16, generator=g)
        W /= W.norm(dim=1, keepdim=True)
        sae = _sae("topk", W, torch.from_numpy(store.read_all()).mean(0), k=4)
        save_sae(sae, tmp_path / name, {"source": "toy"})
        saes[name] = sae
    spec = {"insert_groups": 2, "swap_groups": 2, "ce_points": 2, "ce_docs": 10, "batch_docs": 4}
    main(["stitching", "--small", str(tmp_path / "small"), "--large", str(tmp_path / "large"),
          "--data", str(store.folder), "--spec", json.dumps(spec), "--model-spec",
          json.dumps({"kind": "toyworld", "path": str(tmp_path / "lm"), "device": "cpu"}), "--hook", hook,
          "--documents", str(toy_corpus / "documents.parquet"), "--out", str(tmp_path / "s.json")])
    rec = json.loads((tmp_path / "s.json").read_text())
    with_ce = [p for p in rec["curve"] if "ce_sae" in p]
    assert [p["point"] for p in with_ce] == [0, len(rec["curve"]) - 1]
    docs, _ = heldout_documents(store, lm.bos_id, 10)
    for p, name in zip(with_ce, ("small", "large")):
        assert p["ce_sae"] == pytest.approx(spliced_loss(lm, hook, docs, saes[name], 4)["ce_sae"], rel=1e-6)
    c = rec["concepts"]
    assert c["novel"]["n"] + c["reconstruction"]["n"] == 48 and c["n_concepts"] > 10
