"""The two sparse-probing jobs (saesanity.evals.probing.probes has the protocol):

- `prepare_probing` (once per model and hook): reads the labelled data sets, draws every task's balanced
  train and test documents, runs the language model over the documents some task uses (harvest: BOS left
  out) and writes, into one folder: `tokens/` (an activation store: act, doc, pos, token_id), `tasks.parquet`
  (dataset, task, split, doc, y) and `prep.json` (each data set's document range, the special token ids to
  mask, the requested and actual sizes, and the dense probe's accuracy per task: it does not depend on the SAE);
- `probing_metrics` (once per SAE): mean-pools the SAE's latents of every token per document and fits the
  top-k probes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json
from saesanity.config import _check
from saesanity.evals.probing.probes import (Task, build_tasks, dense_probe, pooled_by_dataset, sparse_probe, summarise,
                                     token_batches)
from saesanity.evals.probing.data import ProbingDataset, load_labelled
from saesanity.lm.model import ModelSpec

TOKENS, TASKS, PREP = "tokens", "tasks.parquet", "prep.json"


@dataclass(frozen=True)
class ProbingConfig:
    """evals.probing, as the preparation job reads it."""

    datasets: list[ProbingDataset] = field(default_factory=lambda: [ProbingDataset("toyworld")])
    n_train: int = 4000
    """Training documents per task (half positive); fewer where a class has fewer documents."""
    n_test: int = 1000
    seed: int = 0
    batch_docs: int = 64
    """Documents per forward pass of the language model."""
    dtype: str = "float16"
    """Storage dtype of the token activations: every per-SAE job reads them all, and float16 halves that."""

    def __post_init__(self) -> None:
        for key in ("n_train", "n_test", "batch_docs"):
            _check(getattr(self, key) >= 2, key, f"must be >= 2, got {getattr(self, key)}")
        _check(self.dtype in ("float16", "float32"), "dtype", f"must be float16 or float32, got {self.dtype!r}")
        names = [d.name for d in self.datasets]
        _check(len(names) == len(set(names)) and names, "datasets", f"must be non-empty and unique, got {names}")


@dataclass(frozen=True)
class PrepJob:
    model: ModelSpec
    hook: str
    probing: ProbingConfig


def special_token_ids(lm) -> list[int]:
    """The token ids a document's pooling leaves out: BOS, EOS and padding, as the model names them."""
    return sorted({i for i in (lm.tokenizer.bos_token_id, lm.tokenizer.eos_token_id, lm.tokenizer.pad_token_id,
                               lm.bos_id, lm.pad_id) if i is not None})


def harvest_documents(lm, hook: str, texts: list[str], out: Path, batch_docs: int, dtype: str, purpose: str) -> None:
    """Every token of every document at `hook` (BOS left out), as an activation store with doc, pos, token_id."""
    from saesanity.lm.harvest import HarvestConfig, harvest
    # n_tokens: an upper bound (every document at full context), so every document is run.
    harvest(lm, hook, enumerate(texts), out, HarvestConfig(n_tokens=len(texts) * lm.n_ctx, batch_docs=batch_docs,
                                                            dtype=dtype), {"purpose": purpose})


def prepare_probing(job: PrepJob, out: str | Path) -> None:
    from saesanity.lm.model import load_model
    cfg = job.probing
    texts: list[str] = []
    rows: list[pd.DataFrame] = []
    datasets = []
    for ds in cfg.datasets:
        labelled = load_labelled(ds, (cfg.n_train + cfg.n_test) // 2)
        tasks = build_tasks(ds.name, labelled.labels, cfg.n_train, cfg.n_test, cfg.seed)
        if not tasks:
            raise ValueError(f"probing data set {ds.name!r}: no label set has two classes with documents")
        # Only the documents some task uses go through the model; they are renumbered in order.
        used = np.unique(np.concatenate([np.r_[t.train_docs, t.test_docs] for t in tasks]))
        lo = len(texts)
        texts += [labelled.texts[i] for i in used]
        datasets.append({"name": ds.name, "doc_lo": lo, "doc_hi": len(texts), "n_texts_read": len(labelled.texts)})
        for t in tasks:
            for split, docs, y in (("train", t.train_docs, t.train_y), ("test", t.test_docs, t.test_y)):
                rows.append(pd.DataFrame({"dataset": ds.name, "task": t.task, "split": split,
                                          "doc": lo + np.searchsorted(used, docs), "y": y.astype(np.int8)}))
        print(f"probing {ds.name}: {len(tasks)} tasks, {len(used)} documents", file=sys.stderr, flush=True)
    lm = load_model(job.model)
    special = special_token_ids(lm)
    table = pd.concat(rows, ignore_index=True)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        harvest_documents(lm, job.hook, texts, tmp / TOKENS, cfg.batch_docs, cfg.dtype, "sparse probing")
        table.to_parquet(tmp / TASKS, index=False)
        prep = {"model": lm.name, "hook": job.hook, "special_token_ids": special, "datasets": datasets,
                "n_train": cfg.n_train, "n_test": cfg.n_test, "seed": cfg.seed,
                "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}
        tasks_by_ds = read_tasks(table, datasets)
        dense = {}
        for d, pooled in zip(datasets, pooled_by_dataset(token_batches(tmp / TOKENS, special),
                                                         [(d["doc_lo"], d["doc_hi"]) for d in datasets])):
            for t in tasks_by_ds[d["name"]]:
                dense[f"{t.dataset}/{t.task}"] = dense_probe(pooled, t)
        prep["dense"] = dense
        (tmp / PREP).write_text(json.dumps(prep, indent=1, sort_keys=True) + "\n")


def read_tasks(table: pd.DataFrame, datasets: list[dict]) -> dict[str, list[Task]]:
    """The tasks of tasks.parquet per data set, documents relative to the data set's first document, in
    the order they were written."""
    out: dict[str, list[Task]] = {d["name"]: [] for d in datasets}
    lo = {d["name"]: d["doc_lo"] for d in datasets}
    for (name, task), group in table.groupby(["dataset", "task"], sort=False):
        parts = {s: g for s, g in group.groupby("split")}
        out[name].append(Task(name, task,
                              parts["train"]["doc"].to_numpy() - lo[name], parts["train"]["y"].to_numpy(),
                              parts["test"]["doc"].to_numpy() - lo[name], parts["test"]["y"].to_numpy()))
    return out


def probing_metrics(sae_dir: str | Path, prep_dir: str | Path, ks: list[int], device: str = "cpu") -> dict:
    """probing.json of one SAE: identity, top_<k> and dense means over tasks, and every task's record."""
    import torch

    from saesanity.evals.identity import sae_identity
    from saesanity.lm.model import resolve_device
    from saesanity.sae.io import load_sae
    prep_dir = Path(prep_dir)
    prep = read_json(prep_dir / PREP)
    sae = load_sae(sae_dir).to(resolve_device(device)).eval()
    d_sae = sae.cfg.d_sae
    _check(all(0 < k <= d_sae for k in ks), "evals.probing.ks", f"each k must be in [1, d_sae={d_sae}], got {ks}")
    tasks_by_ds = read_tasks(pd.read_parquet(prep_dir / TASKS), prep["datasets"])
    sae_device = next(sae.parameters()).device

    def encode(x: torch.Tensor) -> torch.Tensor:
        return sae.encode(x.to(sae_device))

    # Token rows per encoder call: the latents of one call ([rows, d_sae] float32, 16 MB) stay in cache;
    # 4096 rows x 1024 latents encode twice as fast as 65536 rows here.
    batch_rows = max(256, (1 << 22) // d_sae)
    records = []
    bounds = [(d["doc_lo"], d["doc_hi"]) for d in prep["datasets"]]
    batches = token_batches(prep_dir / TOKENS, prep["special_token_ids"], batch_rows)
    for d, pooled in zip(prep["datasets"], pooled_by_dataset(batches, bounds, encode)):
        for t in tasks_by_ds[d["name"]]:
            records.append({**sparse_probe(pooled, t, ks), "dense": prep["dense"][f"{t.dataset}/{t.task}"]})
    short = sum(r["n_train"] < prep["n_train"] or r["n_test"] < prep["n_test"] for r in records)
    return {**sae_identity(sae_dir), "hook": prep["hook"], "n_train_requested": prep["n_train"],
            "n_test_requested": prep["n_test"], "n_tasks_short": short, **summarise(records, ks)}
