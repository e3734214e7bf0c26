"""Probing in four regimes (arXiv 2502.16681): exact draw sizes, positive and flipped counts, disjoint and
reproducible draws, the covariate split, the probes on planted and pure-noise data, the SAE probes' latent
ranking, the quiver arithmetic, and the probe/table jobs end to end on a tiny prep folder (no language model)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from saesanity.config import ConfigError
from saesanity.studies.regime_probes import BASELINES, auc, cv_splits, rank_latents, sae_ks, sae_probe
from saesanity.studies.regimes import (RegimesConfig, Setting, build_tasks, draw, positive_count, regimes_config,
                                       settings, shift_unavailable, held_out_positions)
from saesanity.studies.regimes_table import quiver_settings, quiver_summary, tidy_table

N_DOCS = 6000


def _labels(n: int = N_DOCS, seed: int = 0) -> dict[str, list[str]]:
    rng = np.random.default_rng(seed)
    return {"topic": [f"t{i}" for i in rng.integers(0, 4, n)],
            "sentiment": [["negative", "positive"][i] for i in rng.integers(0, 2, n)],
            "register": [["casual", "formal"][i] for i in rng.integers(0, 2, n)]}


@pytest.fixture(scope="module")
def tasks():
    return build_tasks("toy", _labels(), "register")


def _task(tasks, name):
    return next(t for t in tasks if t.task == name)


def test_tasks_one_vs_rest_and_binary_sets_once(tasks):
    assert [t.task for t in tasks] == ["register:casual", "sentiment:negative", "topic:t0", "topic:t1", "topic:t2",
                                       "topic:t3"]
    # The covariate is attached to every task but the one that probes it.
    assert _task(tasks, "register:casual").covariate is None
    assert all(t.covariate is not None for t in tasks if t.label_set != "register")


def test_scarcity_sizes_are_exact_and_balanced(tasks):
    cfg = RegimesConfig()
    assert cfg.sizes == [2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    task = _task(tasks, "topic:t1")
    test = held_out_positions(task, cfg.n_test, cfg.seed)
    for n in cfg.sizes:
        d = draw(task, test, cfg, Setting("scarcity", n), 0)
        assert len(d.train) == n and len(np.unique(d.train)) == n
        assert d.n_pos == n // 2 == int(d.y_train.sum()) and d.n_flipped == 0
        assert (task.y[d.train] == d.y_train).all()


def test_imbalance_positive_counts_are_round_frac_n(tasks):
    cfg = RegimesConfig()
    assert cfg.imbalance_n_train == 256
    # Hand-computed: round(frac * 256) (12.8 -> 13, 25.6 -> 26, 51.2 -> 51, ..., 243.2 -> 243).
    expected = {0.05: 13, 0.1: 26, 0.2: 51, 0.5: 128, 0.8: 205, 0.9: 230, 0.95: 243}
    task = _task(tasks, "topic:t2")
    test = held_out_positions(task, cfg.n_test, cfg.seed)
    for frac, n_pos in expected.items():
        d = draw(task, test, cfg, Setting("imbalance", frac), 0)
        assert len(d.train) == 256 and d.n_pos == n_pos == int(task.y[d.train].sum()) == int(d.y_train.sum())
    assert positive_count(10, 0.01) == 1 and positive_count(10, 0.99) == 9  # both classes always present
    assert positive_count(2, 0.05) == 1


def test_noise_flips_exactly_round_frac_n_training_labels_only(tasks):
    cfg = RegimesConfig()
    expected = {0.0: 0, 0.1: 26, 0.2: 51, 0.3: 77, 0.4: 102, 0.5: 128}
    task = _task(tasks, "sentiment:negative")
    test = held_out_positions(task, cfg.n_test, cfg.seed)
    for frac, flipped in expected.items():
        d = draw(task, test, cfg, Setting("noise", frac), 0)
        assert d.n_flipped == flipped == int((d.y_train != task.y[d.train]).sum())
        assert d.n_pos == 128 and len(d.train) == 256
        assert (d.y_test == task.y[d.test]).all()  # test labels are the true ones


def test_test_set_fixed_balanced_and_disjoint_from_every_draw(tasks):
    cfg = RegimesConfig(n_test=400)
    for task in tasks:
        test = held_out_positions(task, cfg.n_test, cfg.seed)
        assert len(test) == 400 and task.y[test].sum() == 200
        if task.covariate is not None:  # equal parts per covariate value and class
            for value in ("casual", "formal"):
                cell = test[task.covariate[test] == value]
                assert len(cell) == 200 and task.y[cell].sum() == 100
        for s in settings(cfg, task):
            d = draw(task, test, cfg, s, 0)
            assert not set(d.train) & set(test)
            if s.regime != "shift":
                assert (d.test == test).all()
        assert (held_out_positions(task, cfg.n_test, cfg.seed) == test).all()
    assert not (held_out_positions(tasks[2], 400, 1) == held_out_positions(tasks[2], 400, 0)).all()


def test_shift_trains_on_covariate_a_and_tests_on_b(tasks):
    cfg = RegimesConfig()
    task = _task(tasks, "topic:t0")
    test = held_out_positions(task, cfg.n_test, cfg.seed)
    shifts = [s for s in settings(cfg, task) if s.regime == "shift"]
    assert [s.value for s in shifts] == ["casual->formal", "formal->casual"]
    for s in shifts:
        a, b = s.value.split("->")
        d = draw(task, test, cfg, s, 0)
        assert set(task.covariate[d.train]) == {a} and set(task.covariate[d.test]) == {b}
        assert len(d.train) == cfg.shift_n_train and d.n_pos == cfg.shift_n_train // 2
        assert len(d.test) == cfg.n_test // 2 and d.y_test.sum() == cfg.n_test // 4
    # Not available: the covariate's own task, and a data set without the covariate.
    reg = _task(tasks, "register:casual")
    assert "register" in shift_unavailable(cfg, reg, _labels())
    assert not [s for s in settings(cfg, reg) if s.regime == "shift"]
    plain = build_tasks("news", {"topic": _labels()["topic"]}, "register")
    assert all(t.covariate is None for t in plain)
    assert "no covariate 'register'" in shift_unavailable(cfg, plain[0], {"topic": []})


def _draw_digest(seed: int) -> str:
    cfg = RegimesConfig(seed=seed, repeats=2)
    h = hashlib.sha256()
    for task in build_tasks("toy", _labels(), "register"):
        test = held_out_positions(task, cfg.n_test, cfg.seed)
        h.update(test.tobytes())
        for s in settings(cfg, task):
            for r in range(cfg.repeats):
                d = draw(task, test, cfg, s, r)
                h.update(d.train.tobytes() + d.y_train.tobytes() + d.test.tobytes())
    return h.hexdigest()


def test_draws_are_the_same_in_another_process_and_differ_by_seed_and_repeat(tasks):
    here = _draw_digest(0)
    code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import test_regimes as t; print(t._draw_digest(0))"
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert here == there
    assert _draw_digest(1) != here
    cfg = RegimesConfig()
    task = _task(tasks, "topic:t3")
    test = held_out_positions(task, cfg.n_test, cfg.seed)
    assert not (draw(task, test, cfg, Setting("scarcity", 64), 0).train
                == draw(task, test, cfg, Setting("scarcity", 64), 1).train).all()


def test_auc_is_sklearns_roc_auc_with_ties():
    from sklearn.metrics import roc_auc_score
    rng = np.random.default_rng(5)
    for n in (2, 7, 300):
        y = np.r_[0, 1, rng.integers(0, 2, n - 2)]
        score = np.round(rng.normal(0, 1, n) + y, 1)  # rounded: many ties
        assert auc(y, score) == pytest.approx(roc_auc_score(y, score), abs=1e-12)
    assert auc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.2, 0.8])) == 1.0
    assert auc(np.array([0, 1, 0, 1]), np.array([0.9, 0.1, 0.8, 0.2])) == 0.0


def test_cv_folds_cope_with_tiny_n():
    assert cv_splits(np.array([0, 1])) is None and cv_splits(np.array([0, 1, 1])) is None
    folds = cv_splits(np.array([0, 1] * 4))  # leave-two-out, both classes on both sides: 4 * 4 of 28 pairs
    assert len(folds) == 16 and all(len(va) == 2 for _, va in folds)
    assert len(cv_splits(np.array([0, 1] * 32))) == 6
    (tr, va), = cv_splits(np.array([0] * 243 + [1] * 13))
    assert len(va) == 51 and len(tr) == 205 and not set(tr) & set(va)


def _planted(n: int, d: int, rng, separable: bool):
    y = np.array([0, 1] * (n // 2))
    x = rng.normal(0, 1, (n, d))
    if separable:
        x[:, 0] += 4 * (2 * y - 1)
    return x.astype(np.float32), y


@pytest.mark.parametrize("method", ["logreg", "pca", "knn", "mlp"])
def test_baselines_separate_planted_data_and_not_noise(method):
    rng = np.random.default_rng(0)
    x, y = _planted(64, 8, rng, True)
    xt, yt = _planted(400, 8, rng, True)
    res = BASELINES[method](x, y, xt, yt, cv_splits(y))
    assert res["test_auc"] > 0.97 and res["val_auc"] > 0.9
    x, y = _planted(256, 8, rng, False)
    xt, yt = _planted(2000, 8, rng, False)
    res = BASELINES[method](x, y, xt, yt, cv_splits(y))
    assert abs(res["test_auc"] - 0.5) < 0.06
    # n = 2: no validation; the default hyperparameter and the training AUC.
    res = BASELINES[method](x[:2], y[:2], xt, yt, cv_splits(y[:2]))
    assert 0 <= res["test_auc"] <= 1 and res["val_auc"] in (0.5, 1.0)


def test_sae_probe_ranks_normalised_latents_and_finds_the_planted_ones():
    rng = np.random.default_rng(1)
    n, f = 400, 40
    y = np.array([0, 1] * (n // 2))
    z = rng.exponential(1.0, (n, f)) * (rng.random((n, f)) < 0.3)
    z[:, 7] = 0.8 * y + 0.1 * rng.random(n)  # small scale, large relative difference
    z[:, 23] = 0.5 * (1 - y) * rng.random(n)
    z[:, 3] = 100 + 5 * y + rng.normal(0, 1, n)  # large scale: raw difference 5, relative 0.05
    assert set(rank_latents(z, y)[:2]) == {7, 23}
    raw = np.argsort(-np.abs(z[y == 1].mean(0) - z[y == 0].mean(0)))
    assert raw[0] == 3  # without the normalisation the big latent would come first
    res = sae_probe(z, y, z, y, 2, cv_splits(y))
    assert res["latents"] == [7, 23] and res["test_auc"] > 0.99
    assert sae_ks([16, 128], 64) == [16, 64] and sae_ks([16, 128], 8) == [8]


def _rec(task, method, val, test, value=0.5):
    return {"dataset": "d", "task": task, "regime": "imbalance", "value": value, "repeat": 0, "method": method,
            "val_auc": val, "test_auc": test}


def test_quiver_selects_by_validation_and_measures_the_arrow():
    base = {"kind": "baseline", "methods": ["logreg", "knn"],
            "records": [_rec("a", "logreg", 0.80, 0.70), _rec("a", "knn", 0.90, 0.75),
                        _rec("b", "logreg", 0.95, 0.90), _rec("b", "knn", 0.60, 0.95),
                        _rec("c", "logreg", 0.70, 0.60), _rec("c", "knn", 0.70, 0.65)]}
    sae = {"kind": "sae", "arch": "topk", "variant": "trained", "seed": 0, "methods": ["sae_top16", "sae_top128"],
           "records": [_rec("a", "sae_top16", 0.92, 0.85), _rec("a", "sae_top128", 0.91, 0.99),
                       _rec("b", "sae_top16", 0.95, 0.99), _rec("b", "sae_top128", 0.50, 0.50),
                       _rec("c", "sae_top16", 0.80, 0.55), _rec("c", "sae_top128", 0.10, 0.10)]}
    q = quiver_settings(base, sae).set_index("task")
    # a: best baseline knn (0.90) -> 0.75; the SAE's top16 (0.92) beats it -> 0.85; arrow +0.10.
    assert q.loc["a", "baseline_method"] == "knn" and q.loc["a", "selected_method"] == "sae_top16"
    assert q.loc["a", "improvement"] == pytest.approx(0.10)
    # b: a tie at 0.95 goes to the baseline: no arrow although the SAE probe tests better.
    assert q.loc["b", "selected_method"] == "logreg" and q.loc["b", "improvement"] == 0
    # c: equal baselines -> the first listed (logreg, 0.60); the SAE is selected and is worse: arrow -0.05.
    assert q.loc["c", "baseline_method"] == "logreg" and q.loc["c", "improvement"] == pytest.approx(-0.05)
    s = quiver_summary(q.reset_index()).set_index("value").loc["all"]
    assert s["baseline_auc"] == pytest.approx((0.75 + 0.90 + 0.60) / 3)
    assert s["with_sae_auc"] == pytest.approx((0.85 + 0.90 + 0.55) / 3)
    assert s["improvement"] == pytest.approx(0.05 / 3)
    assert s["frac_sae_selected"] == pytest.approx(2 / 3) and s["frac_sae_improves"] == pytest.approx(1 / 3)
    tidy = tidy_table(base, [sae]).set_index(["kind", "method"])
    assert tidy.loc[("baseline", "knn"), "test_auc"] == pytest.approx((0.75 + 0.95 + 0.65) / 3)
    assert tidy.loc[("sae", "sae_top16"), "n"] == 3


def test_config_checks_name_the_key():
    with pytest.raises(ConfigError, match="noise_fractions"):
        RegimesConfig(noise_fractions=[0.6])
    with pytest.raises(ConfigError, match="imbalance_fractions"):
        RegimesConfig(imbalance_fractions=[0.0])
    with pytest.raises(ConfigError, match="methods"):
        RegimesConfig(methods=["svm"])
    with pytest.raises(ConfigError, match="sizes"):
        RegimesConfig(sizes=[1, 2])
    with pytest.raises(ConfigError, match="unknown key"):
        regimes_config({"n_tests": 3})
    cfg = regimes_config({"datasets": [{"name": "toyworld", "path": "corpus"}], "repeats": 2})
    assert cfg.datasets[0].path == "corpus" and cfg.repeats == 2


# ----------------------------------------------------------------------------------------------------------
# The jobs end to end on a tiny prep folder: planted token activations, no language model.

D_IN = 8
TOPIC_DIR = 0
REGISTER_DIR = 1


def _tiny_prep(root: Path, n_docs: int = 600) -> Path:
    from saesanity.data.store import ShardWriter
    from saesanity.studies.regimes_job import DOCS, TOKENS, write_prep
    rng = np.random.default_rng(0)
    labels = _labels(n_docs, seed=3)
    labels.pop("sentiment")
    topic = np.array([int(t[1]) for t in labels["topic"]])
    formal = np.array([r == "formal" for r in labels["register"]])
    prep = root / "prep"
    prep.mkdir()
    writer = ShardWriter(prep / TOKENS, D_IN, "float32", {})
    docs = np.repeat(np.arange(n_docs), 3)
    acts = rng.normal(0, 1, (len(docs), D_IN)).astype(np.float32)
    acts[:, TOPIC_DIR] += 3.0 * (topic[docs] == 0)
    acts[:, REGISTER_DIR] += 3.0 * formal[docs]
    tokens = np.tile([5, 6, 2], n_docs)  # 2: a special token, masked
    acts[tokens == 2] = 1000.0  # pooled in, it would swamp every feature
    for i in range(0, len(docs), 500):
        writer.write(acts[i:i + 500], doc=docs[i:i + 500], pos=np.tile(np.arange(3, dtype=np.int32), n_docs)[i:i + 500],
                     token_id=tokens[i:i + 500].astype(np.int32))
    writer.close()
    pd.DataFrame({"dataset": "toyworld", "doc": np.arange(n_docs), "source_doc": np.arange(n_docs),
                  "covariate": labels["register"], **labels}).to_parquet(prep / DOCS, index=False)
    entry = {"name": "toyworld", "doc_lo": 0, "doc_hi": n_docs, "n_texts_read": n_docs,
             "label_sets": ["register", "topic"], "covariate": "register"}
    write_prep(prep, "tiny", "blocks.0.hook_resid_pre", [2], [entry], RegimesConfig())
    return prep


TINY = {"sizes": [2, 4, 32], "imbalance_fractions": [0.1, 0.5], "imbalance_n_train": 128, "noise_fractions": [0.0, 0.25],
        "noise_n_train": 128, "shift_n_train": 40, "n_test": 80, "methods": ["logreg", "knn"], "ks": [2, 4]}


def test_probe_and_table_jobs_end_to_end(tmp_path):
    from saesanity.cli import main
    from saesanity.config import SAEConfig
    from saesanity.figures.probing_regimes import draw as draw_figure
    from saesanity.sae.io import save_sae
    from saesanity.sae.registry import build_sae
    prep = _tiny_prep(tmp_path)
    torch.manual_seed(0)
    sae = build_sae(SAEConfig("relu", d_in=D_IN, d_sae=16, target_l0=4, variant="frozen_decoder-iso", seed=3))
    with torch.no_grad():
        sae.W_enc.normal_(0, 1)
        sae.W_enc[:, 0] = 0
        sae.W_enc[TOPIC_DIR, 0] = 1.0  # latent 0 reads the topic direction
        sae.b_enc.zero_()
        sae.W_dec.copy_(torch.nn.functional.normalize(sae.W_enc.T, dim=1))
    save_sae(sae, tmp_path / "sae", {"source": "tiny-blocks.0.hook_resid_pre"})
    spec = json.dumps({"regimes": TINY, "device": "cpu"})
    main(["regimes-probe", "--prep", str(prep), "--spec", spec, "--out", str(tmp_path / "base.json")])
    main(["regimes-probe", "--prep", str(prep), "--spec", spec, "--sae", str(tmp_path / "sae"),
          "--out", str(tmp_path / "sae.json")])
    base = json.loads((tmp_path / "base.json").read_text())
    ours = json.loads((tmp_path / "sae.json").read_text())
    assert base["kind"] == "baseline" and base["methods"] == ["logreg", "knn"]
    assert ours["kind"] == "sae" and ours["variant"] == "frozen_decoder-iso" and ours["seed"] == 3
    assert ours["methods"] == ["sae_top2", "sae_top4"]
    # Tasks register:casual and topic:t0..t3 (5); settings 3 + 2 + 2 (+ 2 shifts on the 4 topic tasks).
    assert len(base["records"]) == (5 * 7 + 4 * 2) * 2 == len(ours["records"])
    assert base["not_available"] == [{"dataset": "toyworld", "task": "register:casual", "regime": "shift",
                                      "value": None, "repeat": None,
                                      "reason": "the task probes the covariate 'register' itself"}]
    key = ("task", "regime", "value", "n_train", "n_pos", "n_flipped", "n_test")
    assert {tuple(r[k] for k in key) for r in base["records"]} == {tuple(r[k] for k in key) for r in ours["records"]}
    flips = {r["value"]: r["n_flipped"] for r in base["records"] if r["regime"] == "noise"}
    assert flips == {0.0: 0, 0.25: 32}
    # The planted directions: topic:t0 and register are easy for the baselines (special tokens masked), and
    # the SAE's latent 0, which reads the topic direction, is among its chosen latents on topic:t0.
    big = [r for r in base["records"] if r["regime"] == "scarcity" and r["value"] == 32 and r["method"] == "logreg"]
    by_task = {r["task"]: r["test_auc"] for r in big}
    assert by_task["topic:t0"] > 0.95 and by_task["register:casual"] > 0.9 and by_task["topic:t1"] < 0.8
    t0 = [r for r in ours["records"] if r["task"] == "topic:t0" and r["regime"] == "scarcity" and r["value"] == 32]
    assert all(0 in r["latents"] for r in t0) and max(r["test_auc"] for r in t0) > 0.95
    studies = tmp_path / "studies"
    main(["studies", "--regimes-baselines", str(tmp_path / "base.json"), "--regimes", str(tmp_path / "sae.json"),
          "--out", str(studies)])
    assert (studies / "probing_regimes.png").exists()
    tidy = pd.read_csv(studies / "probing_regimes.csv", dtype={"value": str}, keep_default_na=False)
    assert set(tidy.regime) == {"scarcity", "imbalance", "noise", "shift"}
    assert set(tidy[tidy.kind == "baseline"].method) == {"logreg", "knn", ""}
    note = tidy[tidy.method == ""]
    assert list(note.regime) == ["shift", "shift"] and note.note.str.startswith("not available").all()
    quiver = pd.read_csv(studies / "probing_regimes_quiver.csv", dtype={"value": str})
    assert set(quiver.value[quiver.regime == "shift"]) == {"casual->formal", "formal->casual", "all"}
    assert quiver.n_settings[(quiver.regime == "scarcity") & (quiver.value == "all")].item() == 5 * 3
    assert ((quiver.frac_sae_improves <= quiver.frac_sae_selected) & (quiver.frac_sae_selected <= 1)).all()
    fig = draw_figure(studies / "probing_regimes.csv", studies / "probing_regimes_quiver.csv")
    assert len(fig.axes) == 4
    assert [t.get_text() for t in fig.axes[3].get_xticklabels()] == ["casual->formal", "formal->casual"]


def test_xgboost_baseline_when_installed():
    """Runs where the optional xgboost-cpu package is installed (not a default method)."""
    pytest.importorskip("xgboost")
    rng = np.random.default_rng(0)
    x, y = _planted(64, 8, rng, True)
    xt, yt = _planted(400, 8, rng, True)
    res = BASELINES["xgboost"](x, y, xt, yt, cv_splits(y))
    assert res["test_auc"] > 0.97 and set(res["param"]) >= {"n_estimators", "max_depth"}
    assert BASELINES["xgboost"](x, y, xt, yt, cv_splits(y)) == res  # seeded search: the same choice
