"""The language-model side: harvest == run_with_cache, the shard contract, determinism and atomicity, the
spliced-loss metrics on known answers, LM training, and the Hugging Face path on a local tiny checkpoint."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from saesanity.config import from_dict
from saesanity.data.store import ActivationStore, ShardWriter, StoreError
from saesanity.data.toyworld import read_documents
from saesanity.evals.lm_loss import heldout_documents, spliced_loss, zero_ablation_reference
from saesanity.lm.harvest import HarvestConfig, harvest, rows_of_batch
from saesanity.lm.jobs import HarvestJob, run_harvest
from saesanity.lm.text import TextSource, documents

HOOK = "blocks.1.hook_resid_pre"


def _docs(corpus: Path, split: str = "heldout") -> list[tuple[int, str]]:
    return list(documents(TextSource("toyworld", str(corpus), split=split)))


@pytest.fixture(scope="module")
def harvested(toy_lm, toy_corpus, tmp_path_factory) -> ActivationStore:
    out = tmp_path_factory.mktemp("harvest") / "store"
    # Small uneven shards and batches, so rows cross shard and batch boundaries.
    harvest(toy_lm, HOOK, _docs(toy_corpus), out, HarvestConfig(n_tokens=10**9, batch_docs=7, shard_rows=100))
    return ActivationStore.open(out)


def _table(store: ActivationStore) -> pa.Table:
    return pa.concat_tables([pq.read_table(s) for s in store.shards])


def test_harvest_matches_run_with_cache(toy_lm, toy_corpus, harvested):
    table = _table(harvested)
    acts = np.stack(table["act"].to_numpy(zero_copy_only=False))
    docs = _docs(toy_corpus)
    row = 0
    for doc_id, text in docs:
        tokens = toy_lm.encode(text)
        _, cache = toy_lm.model.run_with_cache(torch.tensor([tokens]), names_filter=HOOK)
        expected = cache[HOOK][0, 1:].numpy()  # BOS excluded
        n = len(tokens) - 1
        np.testing.assert_allclose(acts[row:row + n], expected, atol=1e-5)
        assert table["doc"].to_numpy()[row:row + n].tolist() == [doc_id] * n
        assert table["pos"].to_numpy()[row:row + n].tolist() == list(range(1, n + 1))
        assert table["token_id"].to_numpy()[row:row + n].tolist() == tokens[1:]
        row += n
    assert row == harvested.count == len(table)


def test_shards_follow_the_contract(toy_lm, harvested):
    schema = pq.read_schema(harvested.shards[0])
    assert schema.field("act").type == pa.list_(pa.float32(), toy_lm.d_model)
    assert schema.field("doc").type == pa.int64()
    assert schema.field("pos").type == pa.int32() and schema.field("token_id").type == pa.int32()
    meta = json.loads((harvested.folder / "meta.json").read_text())
    assert meta["model"] == "toyworld" and meta["hook"] == HOOK and meta["d"] == toy_lm.d_model
    assert meta["dtype"] == "float32" and meta["bos_excluded"] is True
    rows = [pq.ParquetFile(s).metadata.num_rows for s in harvested.shards]
    assert all(r == 100 for r in rows[:-1]) and 0 < rows[-1] <= 100
    assert toy_lm.bos_id not in set(_table(harvested)["token_id"].to_numpy().tolist())


def test_harvest_stops_at_n_tokens_and_is_deterministic(toy_lm, toy_corpus, tmp_path):
    cfg = HarvestConfig(n_tokens=250, batch_docs=4, shard_rows=64, dtype="float16")
    for name in ("a", "b"):
        harvest(toy_lm, HOOK, _docs(toy_corpus), tmp_path / name, cfg)
    a, b = ActivationStore.open(tmp_path / "a"), ActivationStore.open(tmp_path / "b")
    assert 250 <= a.count < 250 + toy_lm.n_ctx  # stops after the document that reaches n_tokens
    assert pq.read_schema(a.shards[0]).field("act").type.value_type == pa.float16()
    assert [hashlib.sha256(s.read_bytes()).digest() for s in a.shards] == \
           [hashlib.sha256(s.read_bytes()).digest() for s in b.shards]


def test_killed_harvest_leaves_nothing(toy_lm, toy_corpus, tmp_path):
    def failing_docs():
        yield from _docs(toy_corpus)[:20]
        raise KeyboardInterrupt  # as if the job were killed mid-stream

    with pytest.raises(KeyboardInterrupt):
        harvest(toy_lm, HOOK, failing_docs(), tmp_path / "store", HarvestConfig(batch_docs=4, shard_rows=50))
    assert list(tmp_path.iterdir()) == []


def test_unknown_hook_is_named(toy_lm, toy_corpus, tmp_path):
    with pytest.raises(ValueError, match="blocks.9.hook_resid_pre"):
        harvest(toy_lm, "blocks.9.hook_resid_pre", _docs(toy_corpus), tmp_path / "s", HarvestConfig())


def test_heldout_documents_are_the_harvested_tokens(toy_lm, toy_corpus, harvested):
    docs, outliers = heldout_documents(harvested, toy_lm.bos_id, max_docs=5)
    assert docs == [toy_lm.encode(text) for _, text in _docs(toy_corpus)[:5]]
    assert outliers == [[]] * 5


def test_a_massive_activation_is_left_out_and_listed():
    """A planted position 50x the median norm is dropped and named; BOS and padding are never rows."""
    act_BTD = np.ones((2, 4, 3), dtype=np.float32)
    act_BTD[1, 2] = 50.0
    rows, outliers = rows_of_batch(act_BTD, np.array([7, 8]), [[1, 10, 11, 12], [1, 20, 21]], outlier_norm=10)
    assert outliers == [{"doc": 8, "pos": 2, "token_id": 21, "norm": round(50 * 3 ** 0.5, 1)}]
    assert rows["token_id"].tolist() == [10, 11, 12, 20] and rows["pos"].tolist() == [1, 2, 3, 1]
    kept, none = rows_of_batch(act_BTD, np.array([7, 8]), [[1, 10, 11, 12], [1, 20, 21]], outlier_norm=None)
    assert none == [] and kept["token_id"].tolist() == [10, 11, 12, 20, 21]


def test_outliers_leave_the_store_but_not_the_documents(toy_lm, toy_corpus, tmp_path):
    """With a threshold low enough to catch some of the toy model's rows, the store loses exactly the listed
    rows, and the held-out documents come back whole with those positions marked to stay clean."""
    cfg = HarvestConfig(n_tokens=400, batch_docs=4, shard_rows=64)
    harvest(toy_lm, HOOK, _docs(toy_corpus), tmp_path / "all", dataclasses.replace(cfg, outlier_norm=None))
    harvest(toy_lm, HOOK, _docs(toy_corpus), tmp_path / "cut", dataclasses.replace(cfg, outlier_norm=1.3))
    full, cut = ActivationStore.open(tmp_path / "all"), ActivationStore.open(tmp_path / "cut")
    listed = cut.meta["outlier_rows"]
    assert listed and cut.meta["outlier_norm"] == 1.3 and full.meta["outlier_rows"] == []
    assert cut.count + len(listed) == full.count
    left_out = {(r["doc"], r["pos"]) for r in listed}
    table = _table(cut)
    assert not left_out & set(zip(table["doc"].to_numpy().tolist(), table["pos"].to_numpy().tolist()))
    n_docs = len(set(table["doc"].to_numpy().tolist())) - 1
    docs, keep = heldout_documents(cut, toy_lm.bos_id, max_docs=n_docs)
    assert docs == heldout_documents(full, toy_lm.bos_id, max_docs=n_docs)[0]
    ids = sorted(set(table["doc"].to_numpy().tolist()))[:n_docs]
    assert keep == [sorted(r["pos"] for r in listed if r["doc"] == i) for i in ids] and any(keep)


def test_a_document_with_a_missing_position_is_refused(tmp_path):
    """A row gone from a document (not listed as an outlier) would shift every later token of the rebuilt
    document: refused, not silently joined."""
    w = ShardWriter(tmp_path / "s", 2, "float32")
    w.write(np.ones((3, 2), np.float32), doc=np.array([0, 0, 1]), pos=np.array([1, 3, 1], np.int32),
            token_id=np.array([5, 6, 7], np.int32))
    w.close()
    with pytest.raises(StoreError, match="missing positions"):
        heldout_documents(ActivationStore.open(tmp_path / "s"), 1, max_docs=1)
    w.meta["outlier_rows"] = [{"doc": 0, "pos": 2, "token_id": 9, "norm": 1e4}]
    w.close()
    docs, keep = heldout_documents(ActivationStore.open(tmp_path / "s"), 1, max_docs=1)
    assert docs == [[1, 5, 9, 6]] and keep == [[2]]


LM_SPEC = {"model": {"d_model": 16, "n_layers": 2, "n_heads": 2, "d_mlp": 32, "n_ctx": 64},
           "train": {"steps": 40, "batch_size": 16, "lr": 0.01, "warmup_steps": 4, "log_every": 10},
           "device": "cpu"}


@pytest.fixture(scope="module")
def trained_lm_dir(toy_corpus, toy_tokenizer_dir, tmp_path_factory) -> Path:
    from saesanity.lm.train_lm import LMJob, train_lm
    out = tmp_path_factory.mktemp("lm")
    train_lm(from_dict(LMJob, LM_SPEC, "toyworld"), toy_corpus, toy_tokenizer_dir, out / "model", out / "lm.json")
    return out


def test_ce_loss_recovered_is_one_for_identity_and_zero_for_zero(trained_lm_dir, toy_corpus):
    from saesanity.lm.model import load_toy_model
    lm = load_toy_model(trained_lm_dir / "model")
    docs = [lm.encode(text) for _, text in _docs(toy_corpus)[:12]]
    ident = spliced_loss(lm, HOOK, docs, lambda x: x, batch_docs=5)
    assert ident["ce_zero"] > ident["ce_clean"] + 0.1  # the trained model needs its residual stream
    assert ident["ce_loss_recovered"] == pytest.approx(1.0, abs=1e-5)
    assert ident["kl_div_score"] == pytest.approx(1.0, abs=1e-5) and abs(ident["kl_sae"]) < 1e-6
    zero = spliced_loss(lm, HOOK, docs, torch.zeros_like, batch_docs=5)
    assert zero["ce_loss_recovered"] == pytest.approx(0.0, abs=1e-6)
    assert zero["kl_div_score"] == pytest.approx(0.0, abs=1e-6)
    # Noise on the activations is a partial reconstruction: strictly between the two.
    noisy = spliced_loss(lm, HOOK, docs, lambda x: x + 0.5 * x.std() * torch.randn_like(x), batch_docs=5)
    assert ident["ce_clean"] < noisy["ce_sae"] < noisy["ce_zero"]
    assert ident["n_tokens"] == sum(len(d) - 1 for d in docs)
    # Positions kept clean are not patched in either run: keeping all of them, zero ablation changes nothing.
    every = [list(range(1, len(d))) for d in docs]
    kept = spliced_loss(lm, HOOK, docs, torch.zeros_like, batch_docs=5, keep=every)
    assert kept["ce_zero"] == pytest.approx(ident["ce_clean"], rel=1e-6) and kept["n_kept_clean"] == ident["n_tokens"]


def test_zero_ablation_reference_gives_the_same_bits(trained_lm_dir, toy_corpus):
    """eval_lm_loss with lm_loss_prep's reference (zero-ablation sums and activations at the hook, computed
    once per model) gives the record it gives alone, float for float, with and without positions kept clean."""
    from saesanity.lm.model import load_toy_model
    lm = load_toy_model(trained_lm_dir / "model")
    docs = [lm.encode(text) for _, text in _docs(toy_corpus)[:12]]
    keep = [[2] if i % 3 == 0 else [] for i in range(len(docs))]
    noisy = torch.Generator().manual_seed(0)
    W_DD = torch.eye(lm.model.cfg.d_model) + 0.3 * torch.randn(lm.model.cfg.d_model, lm.model.cfg.d_model,
                                                                 generator=noisy)
    for kept in (None, keep):
        ref = zero_ablation_reference(lm, HOOK, docs, 5, kept)
        assert sorted(ref) == ["act_0", "act_1", "act_2", "ce_zero", "ce_zero_docs", "kl_zero", "kl_zero_docs"]
        assert ref["ce_zero"].shape == (3,) and ref["ce_zero_docs"].shape == (12,)
        alone = spliced_loss(lm, HOOK, docs, lambda x: x @ W_DD, batch_docs=5, keep=kept, per_doc=True)
        assert spliced_loss(lm, HOOK, docs, lambda x: x @ W_DD, 5, kept, ref, per_doc=True) == alone
        assert 0 < alone["ce_loss_recovered"] < 1
        # A reference written before the per-document sums: the record, without its items.
        old = {k: v for k, v in ref.items() if not k.endswith("_docs")}
        assert spliced_loss(lm, HOOK, docs, lambda x: x @ W_DD, 5, kept, old, per_doc=True) == \
            {k: v for k, v in alone.items() if k != "docs"}


def test_per_document_sums_are_the_items_of_both_scores(trained_lm_dir, toy_corpus):
    """The per-document sums add up to the record's means, and as the verdict's bootstrap items
    (saesanity.sanity.intervals) their ratio of sums is CE loss recovered and the KL score."""
    from saesanity.lm.model import load_toy_model
    from saesanity.sanity.intervals import items_of
    lm = load_toy_model(trained_lm_dir / "model")
    docs = [lm.encode(text) for _, text in _docs(toy_corpus)[:12]]
    noisy = lambda x: x + 0.5 * x.std() * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    m = spliced_loss(lm, HOOK, docs, noisy, batch_docs=5, per_doc=True)
    assert sorted(m["docs"]) == ["ce_clean", "ce_sae", "ce_zero", "kl_sae", "kl_zero"]
    for key, per_doc in m["docs"].items():
        assert len(per_doc) == 12
        assert sum(per_doc) / m["n_tokens"] == pytest.approx(m[key], rel=1e-5)
    # Each document's own CE: its tokens alone, in a batch of one.
    first = spliced_loss(lm, HOOK, docs[:1], lambda x: x, batch_docs=1)
    assert m["docs"]["ce_clean"][0] == pytest.approx(first["ce_clean"] * first["n_tokens"], rel=1e-5)
    for metric, key in (("ce_loss_recovered", "ce_loss_recovered"), ("kl_div_score", "kl_div_score")):
        items = items_of(metric, m)
        assert len(items.ids) == 12 and items.value() == pytest.approx(m[key], rel=1e-5)
    assert "docs" not in spliced_loss(lm, HOOK, docs, noisy, batch_docs=5)


def test_a_reference_of_other_documents_is_refused(trained_lm_dir, toy_corpus, tmp_path):
    from saesanity.evals.lm_loss import _read_reference, _reference_record
    from saesanity.atomic import write_json
    from saesanity.lm.model import load_toy_model
    lm = load_toy_model(trained_lm_dir / "model")
    docs = [lm.encode(text) for _, text in _docs(toy_corpus)[:6]]
    keep = [[] for _ in docs]
    write_json(tmp_path / "reference.json", _reference_record(lm, HOOK, docs[:5], keep[:5], 5))
    with pytest.raises(ValueError, match="n_docs.*docs_sha256.*rule lm_loss_prep"):
        _read_reference(tmp_path, _reference_record(lm, HOOK, docs, keep, 5))
    # The same documents with another position kept clean (another outlier threshold) are other inputs too.
    write_json(tmp_path / "reference.json", _reference_record(lm, HOOK, docs, keep, 5))
    with pytest.raises(ValueError, match="docs_sha256"):
        _read_reference(tmp_path, _reference_record(lm, HOOK, docs, [[1]] + keep[1:], 5))


def test_train_lm_is_deterministic_and_reports_attribute_accuracy(trained_lm_dir, toy_corpus, toy_tokenizer_dir,
                                                                   tmp_path):
    from saesanity.lm.model import load_toy_model
    from saesanity.lm.train_lm import LMJob, train_lm
    job = from_dict(LMJob, LM_SPEC, "toyworld")
    train_lm(job, toy_corpus, toy_tokenizer_dir, tmp_path / "again", tmp_path / "lm.json")
    assert (tmp_path / "again/model.safetensors").read_bytes() == (trained_lm_dir / "model/model.safetensors").read_bytes()
    metrics = json.loads((trained_lm_dir / "lm.json").read_text())
    splits = {(r["attribute"], r["template_split"]) for r in metrics["attributes"]}
    assert ("all", "heldout") in splits and ("country", "train") in splits
    first = float((trained_lm_dir / "model/train_log.csv").read_text().splitlines()[1].split(",")[2])
    assert metrics["heldout_documents"]["loss"] < first  # it learned something
    lm = load_toy_model(trained_lm_dir / "model")
    text = read_documents(toy_corpus, "heldout")["text"][0].as_py()
    assert lm.logits(torch.tensor([lm.encode(text)])).shape[-1] == len(lm.tokenizer)


def test_hf_local_checkpoint_matches_transformers(hf_checkpoint):
    from saesanity.lm.model import load_hf_model
    from transformers import AutoModelForCausalLM
    lm = load_hf_model(str(hf_checkpoint), device="cpu")
    hf = AutoModelForCausalLM.from_pretrained(hf_checkpoint).eval()
    tokens = torch.tensor([lm.encode("paris lies in the country of france .")])
    with torch.no_grad():
        out = hf(tokens, output_hidden_states=True)
    # No weight processing: the hooked residual stream is the model's own hidden state.
    torch.testing.assert_close(lm.activations(tokens, HOOK), out.hidden_states[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(lm.logits(tokens), out.logits, atol=1e-4, rtol=0)


def test_hf_path_streams_local_text_into_disjoint_stores(hf_checkpoint, toy_corpus, tmp_path):
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"text": t}) + "\n" for _, t in _docs(toy_corpus, "train")[:60]))
    job = from_dict(HarvestJob, {
        "model": {"kind": "hf", "path": str(hf_checkpoint), "device": "cpu"}, "hook": HOOK,
        "text": {"kind": "hf", "path": "json", "data_files": [str(docs)], "split": "train"},
        "heldout_text": None, "train": {"n_tokens": 400, "batch_docs": 8}, "heldout": {"n_tokens": 200}})
    run_harvest(job, tmp_path / "train", tmp_path / "heldout")
    train, held = ActivationStore.open(tmp_path / "train"), ActivationStore.open(tmp_path / "heldout")
    assert train.d == held.d == 32 and train.count >= 400 and held.count >= 200
    train_docs = set(_table(train)["doc"].to_pylist())
    held_docs = set(_table(held)["doc"].to_pylist())
    # The held-out documents are the ones that follow the training documents in the stream.
    assert max(train_docs) < min(held_docs) and min(held_docs) == max(train_docs) + 1


def test_offline_without_model_or_data_names_what_to_download(tmp_path):
    script = (
        "from saesanity.lm.model import ModelNotAvailable, load_hf_model\n"
        "from saesanity.lm.text import TextSource, documents\n"
        "for load in (lambda: load_hf_model('EleutherAI/pythia-70m', device='cpu'),\n"
        "             lambda: next(documents(TextSource('hf', 'Skylion007/openwebtext')))):\n"
        "    try:\n"
        "        load()\n"
        "    except ModelNotAvailable as err:\n"
        "        print('MESSAGE', err)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    messages = [line for line in out.stdout.splitlines() if line.startswith("MESSAGE")]
    assert len(messages) == 2, out.stdout + out.stderr
    assert "hf download EleutherAI/pythia-70m" in messages[0]
    assert "Skylion007/openwebtext" in messages[1] and "data_files" in messages[1]
