"""Sparse probing (SAEBench protocol): planted latents and labels, balanced tasks, training-only ranking,
pooling of per-token latents with special tokens masked, the data-set registry on local files, and the two
jobs end to end on the tiny Hugging Face checkpoint, offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from saesanity.config import from_dict
from saesanity.data.store import ShardWriter
from saesanity.evals.probing.probes import (build_tasks, dense_probe, mean_pool, pooled_by_dataset, rank_latents,
                                     sparse_probe, summarise, token_batches)
from saesanity.evals.probing.data import ProbingDataset, load_labelled

CLASSES = ["a", "b", "c", "d"]


def _labels(n: int, seed: int = 0) -> list[str]:
    return [CLASSES[i] for i in np.random.default_rng(seed).integers(0, len(CLASSES), n)]


def _planted(labels: list[str], n_latents: int = 64, seed: int = 1) -> np.ndarray:
    """Non-negative noise latents, and latent 10 + c equal to the indicator of class c."""
    rng = np.random.default_rng(seed)
    x = rng.exponential(1.0, (len(labels), n_latents)).astype(np.float32) * (rng.random((len(labels), n_latents)) < 0.3)
    for c, name in enumerate(CLASSES):
        x[:, 10 + c] = [float(lab == name) for lab in labels]
    return x


def test_a_latent_equal_to_the_label_is_ranked_first_and_probes_perfectly():
    labels = _labels(1200)
    x = _planted(labels)
    tasks = build_tasks("planted", {"letter": labels}, n_train=400, n_test=200, seed=0)
    assert [t.task for t in tasks] == [f"letter:{c}" for c in CLASSES]
    records = [sparse_probe(x, t, [1, 2, 5]) for t in tasks]
    for c, rec in enumerate(records):
        assert rec["top_latents"][0] == 10 + c
        assert rec["top_1"] == pytest.approx(1.0, abs=1e-9) and rec["top_5"] >= 0.99
    summary = summarise([{**r, "dense": 1.0} for r in records], [1, 2, 5])
    assert summary["top_1"] == pytest.approx(1.0) and summary["n_tasks"] == 4
    # Without the planted latents the noise alone probes at chance.
    noise = np.delete(x, [10, 11, 12, 13], axis=1)
    assert np.mean([sparse_probe(noise, t, [1])["top_1"] for t in tasks]) < 0.6


def test_summary_averages_as_saebench_within_then_across_data_sets():
    """SAEBench's average_results_dictionaries: classes within each data set, then data sets. Two data sets,
    one with three classes at 1.0 and one with one class at 0.5: SAEBench's mean is 0.75, the task mean 0.875."""
    records = [{"dataset": "a", "task": f"topic:{c}", "top_1": 1.0} for c in "xyz"]
    records.append({"dataset": "a", "task": "sentiment:pos", "top_1": 0.5})
    summary = summarise(records, [1])
    assert summary["top_1"] == pytest.approx(0.75)
    assert summary["top_1_task_mean"] == pytest.approx(0.875)
    assert summary["task_groups"] == ["a/sentiment", "a/topic"] and summary["dense"] is None


def test_dense_probe_separates_separable_data():
    labels = _labels(1000, seed=2)
    rng = np.random.default_rng(3)
    means = rng.normal(0, 1, (len(CLASSES), 16))
    x = np.stack([means[CLASSES.index(lab)] for lab in labels]) * 3 + rng.normal(0, 0.5, (1000, 16))
    for task in build_tasks("sep", {"letter": labels}, 400, 200, seed=0):
        assert dense_probe(x.astype(np.float32), task) >= 0.98


def test_tasks_are_balanced_disjoint_and_seeded():
    labels = _labels(2000, seed=4)
    tasks = build_tasks("d", {"letter": labels, "half": ["x" if i % 2 else "y" for i in range(2000)]}, 600, 200, 7)
    assert len(tasks) == 4 + 2  # every class of every label set, binary sets too
    for t in tasks:
        for docs, y in ((t.train_docs, t.train_y), (t.test_docs, t.test_y)):
            assert y.sum() * 2 == len(y)  # balanced
            assert len(np.unique(docs)) == len(docs)
        assert len(t.train_docs) == 600 and len(t.test_docs) == 200
        assert not set(t.train_docs) & set(t.test_docs)
        if t.task.startswith("letter:"):
            cls = t.task.split(":")[1]
            neg = [labels[i] for i in t.train_docs[t.train_y == 0]]
            assert cls not in neg
            counts = [neg.count(c) for c in CLASSES if c != cls]
            assert max(counts) - min(counts) <= 1  # negatives drawn evenly from the other classes
    again = build_tasks("d", {"letter": labels, "half": ["x" if i % 2 else "y" for i in range(2000)]}, 600, 200, 7)
    for a, b in zip(tasks, again):
        assert (a.train_docs == b.train_docs).all() and (a.test_docs == b.test_docs).all()
    other = build_tasks("d", {"letter": labels}, 600, 200, 8)
    assert not (other[0].train_docs == tasks[2].train_docs).all()


def test_small_classes_give_smaller_tasks_that_say_so():
    labels = ["a"] * 50 + ["b"] * 500
    tasks = build_tasks("small", {"s": labels}, n_train=400, n_test=100, seed=0)
    a = next(t for t in tasks if t.task == "s:a")
    assert 0 < len(a.train_docs) < 400 and 0 < len(a.test_docs) < 100
    assert a.train_y.mean() == 0.5 and a.test_y.mean() == 0.5


def test_ranking_uses_the_training_documents_only():
    labels = _labels(1200, seed=5)
    x = _planted(labels)
    task = build_tasks("leak", {"letter": labels}, 400, 200, seed=0)[0]
    # Latent 40 equals the label on the test documents only: a ranking that looked at them would pick it.
    x[:, 40] = 0
    x[task.test_docs, 40] = 5.0 * task.test_y
    x[task.train_docs, 10] = x[task.train_docs, 10] * 0.5  # the planted latent stays informative on train
    assert rank_latents(x[task.train_docs], task.train_y)[0] == 10
    assert sparse_probe(x, task, [1])["top_latents"] == [10]


def _write_tokens(folder: Path, docs: np.ndarray, tokens: np.ndarray, acts: np.ndarray, shard_rows: int) -> None:
    writer = ShardWriter(folder, acts.shape[1], "float32", {})
    for i in range(0, len(docs), shard_rows):
        writer.write(acts[i:i + shard_rows], doc=docs[i:i + shard_rows],
                     pos=np.arange(i, min(i + shard_rows, len(docs)), dtype=np.int32),
                     token_id=tokens[i:i + shard_rows].astype(np.int32))
    writer.close()


def test_pooling_averages_per_token_latents_and_masks_special_tokens(tmp_path):
    rng = np.random.default_rng(0)
    docs = np.repeat(np.arange(7), rng.integers(2, 9, 7))
    tokens = rng.integers(3, 50, len(docs))
    tokens[::5] = 2  # an EOS-like special token here and there
    acts = rng.normal(0, 1, (len(docs), 6)).astype(np.float32)
    _write_tokens(tmp_path / "tokens", docs, tokens, acts, shard_rows=9)
    W = torch.from_numpy(rng.normal(0, 1, (6, 10)).astype(np.float32))

    def encode(x):
        return torch.relu(x @ W - 0.5)

    for batch_rows in (4, 1000):  # documents cut across batches and shards
        pooled = mean_pool(token_batches(tmp_path / "tokens", [0, 2], batch_rows), 7, encode)
        keep = tokens != 2
        for d in range(7):
            rows = acts[(docs == d) & keep]
            expected = encode(torch.from_numpy(rows)).mean(0).numpy()
            np.testing.assert_allclose(pooled[d], expected, rtol=1e-5, atol=1e-6)
    # Encoding each token then averaging is not encoding the mean activation.
    rows = acts[(docs == 0) & (tokens != 2)]
    assert not np.allclose(pooled[0], encode(torch.from_numpy(rows.mean(0, keepdims=True)))[0].numpy())
    # Split by data set in one pass: [0, 3) and [3, 7), each numbered from 0.
    parts = list(pooled_by_dataset(token_batches(tmp_path / "tokens", [0, 2], 4), [(0, 3), (3, 7)], encode))
    np.testing.assert_allclose(np.concatenate(parts), pooled, rtol=1e-6)


def test_registry_reads_local_files_in_the_hub_format(tmp_path):
    ag = tmp_path / "ag.jsonl"
    ag.write_text("".join(json.dumps({"text": f"news {i}", "label": i % 4}) for i in range(40)).replace("}{", "}\n{"))
    docs = load_labelled(ProbingDataset("ag_news", path="json", data_files=[str(ag)]), per_class=100)
    assert len(docs.texts) == 40 and docs.labels["topic"][:5] == ["0", "1", "2", "3", "0"]
    # Reading stops once every class has enough texts.
    assert len(load_labelled(ProbingDataset("ag_news", path="json", data_files=[str(ag)]), per_class=3).texts) == 12
    euro = tmp_path / "europarl.jsonl"
    euro.write_text(json.dumps({"translation": {"en": "hello", "fr": "bonjour"}}) + "\n"
                    + json.dumps({"translation": {"de": "hallo", "en": "hi"}}) + "\n")
    docs = load_labelled(ProbingDataset("europarl", path="json", data_files=[str(euro)]), per_class=10)
    assert docs.texts == ["hello", "bonjour", "hallo", "hi"]
    assert docs.labels["language"] == ["en", "fr", "de", "en"]
    bios = tmp_path / "bios.jsonl"
    bios.write_text(json.dumps({"hard_text": "a nurse", "profession": 13, "gender": 1}) + "\n")
    docs = load_labelled(ProbingDataset("bias_in_bios", path="json", data_files=[str(bios)]), per_class=10)
    assert docs.labels["profession_set1"] == [None] and docs.labels["profession_set2"] == ["13"]
    with pytest.raises(KeyError, match="label"):
        bad = tmp_path / "bad.jsonl"
        bad.write_text(json.dumps({"text": "x", "category": 1}) + "\n")
        load_labelled(ProbingDataset("ag_news", path="json", data_files=[str(bad)]), per_class=10)
    with pytest.raises(ValueError, match="unknown probing data set 'imdb'"):
        ProbingDataset("imdb")


def test_offline_hub_data_set_names_itself_and_the_local_alternative(tmp_path):
    script = ("from saesanity.evals.probing.data import ProbingDataset, load_labelled\n"
              "from saesanity.lm.model import ModelNotAvailable\n"
              "try:\n    load_labelled(ProbingDataset('ag_news'), 10)\n"
              "except ModelNotAvailable as err:\n    print('MESSAGE', err)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    message = next((line for line in out.stdout.splitlines() if line.startswith("MESSAGE")), None)
    assert message, out.stdout + out.stderr
    assert "'ag_news'" in message and "fancyzhx/ag_news" in message and "data_files" in message


@pytest.fixture(scope="module")
def hf_probing(hf_checkpoint, toy_corpus, tmp_path_factory):
    """The Hugging Face path end to end: the tiny GPT-NeoX checkpoint, an ag_news-format JSON-lines file
    (the toy world's documents, label = one of four topics), a random ReLU SAE, both jobs run twice."""
    from saesanity.config import SAEConfig
    from saesanity.data.toyworld import read_documents
    from saesanity.evals.probing.jobs import PrepJob, prepare_probing, probing_metrics
    from saesanity.sae.io import save_sae
    from saesanity.sae.registry import build_sae
    root = tmp_path_factory.mktemp("probing")
    table = read_documents(toy_corpus)
    topics = sorted(set(table["topic"].to_pylist()))[:4]
    rows = [{"text": t, "label": topics.index(p)} for t, p in zip(table["text"].to_pylist(), table["topic"].to_pylist())
            if p in topics]
    (root / "ag.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {"model": {"kind": "hf", "path": str(hf_checkpoint), "device": "cpu", "n_ctx": 32},
            "hook": "blocks.1.hook_resid_pre",
            "probing": {"datasets": [{"name": "ag_news", "path": "json", "data_files": [str(root / "ag.jsonl")]}],
                        "n_train": 40, "n_test": 20, "seed": 0, "batch_docs": 16}}
    for name in ("prep", "prep2"):
        prepare_probing(from_dict(PrepJob, spec, "evals"), root / name)
    torch.manual_seed(0)
    sae = build_sae(SAEConfig("relu", d_in=32, d_sae=48, target_l0=8))
    with torch.no_grad():
        sae.W_enc.normal_(0, 1)
        sae.W_dec.copy_(torch.nn.functional.normalize(sae.W_enc.T, dim=1))
    save_sae(sae, root / "sae", {"source": "tiny-neox-blocks.1.hook_resid_pre"})
    metrics = [probing_metrics(root / "sae", root / "prep", [1, 2, 5]) for _ in range(2)]
    return root, metrics, len(rows)


def test_hf_jobs_end_to_end_offline_and_deterministic(hf_probing):
    root, (metrics, again), n_rows = hf_probing
    assert metrics == again
    for name in ("prep.json", "tasks.parquet", "tokens/shard-00000.parquet"):
        assert (root / "prep" / name).read_bytes() == (root / "prep2" / name).read_bytes()
    prep = json.loads((root / "prep/prep.json").read_text())
    assert prep["datasets"][0]["name"] == "ag_news" and 0 < prep["datasets"][0]["n_texts_read"] <= n_rows
    assert prep["special_token_ids"]  # BOS/EOS/PAD of the checkpoint's tokenizer are masked
    meta = json.loads((root / "prep/tokens/meta.json").read_text())
    assert meta["bos_excluded"] and meta["d"] == 32
    assert metrics["n_tasks"] == 4 and metrics["n_tasks_short"] == 0
    assert metrics["arch"] == "relu" and metrics["d_sae"] == 48
    for key in ("top_1", "top_2", "top_5", "dense"):
        assert 0 <= metrics[key] <= 1
    for task in metrics["tasks"]:
        assert task["dataset"] == "ag_news" and task["n_train"] == 40 and task["n_test"] == 20
        assert set(task) >= {"top_1", "top_2", "top_5", "dense", "top_latents"}
