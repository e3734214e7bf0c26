"""Sparse probing, as SAEBench runs it and arXiv 2602.14111 reports it (Table 2, "sparse probing top-1/top-5"):

- a document's feature vector is the mean over its tokens (BOS, PAD and EOS masked) of the SAE's latents of
  each token (encode every token, then average; not the latents of the mean activation);
- every class of every label set is a one-vs-rest binary task with balanced negatives (drawn evenly from
  the other classes, seeded), on separate train and test documents;
- the k latents with the largest |mean over positives - mean over negatives| on the TRAINING documents are
  kept, and an L2 logistic regression (scikit-learn, C = 1, as SAEBench) on them is scored on the test
  documents; k in `ks` (SAEBench: 1, 2, 5);
- the same logistic regression on the mean-pooled raw activations (all d dimensions) is the dense reference.
Reported: test accuracy per task and its mean over tasks.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

# SAEBench's probe: sklearn's default C and solver (lbfgs), max_iter raised to 1000 for convergence.
PROBE_C = 1.0
PROBE_MAX_ITER = 1000


@dataclass(frozen=True)
class Task:
    """One binary task: document indices (into the data set's pooled features) and 0/1 labels."""

    dataset: str
    task: str
    """'<label set>:<class>'."""
    train_docs: np.ndarray
    train_y: np.ndarray
    test_docs: np.ndarray
    test_y: np.ndarray


def class_pools(labels: Sequence[str | None], n_train: int, n_test: int,
                rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per class: (train documents, test documents), disjoint, at most n_train // 2 and n_test // 2 (the
    positives of a balanced task; SAEBench's per-class sample). A class with fewer documents is split in
    the same proportion."""
    labels_arr = np.array([x if x is not None else "" for x in labels], dtype=object)
    pools = {}
    for cls in sorted({x for x in labels if x is not None}):
        docs = np.flatnonzero(labels_arr == cls)
        docs = docs[rng.permutation(len(docs))]
        n_te = min(n_test // 2, max(1, round(len(docs) * n_test / (n_train + n_test))))
        pools[cls] = (np.sort(docs[n_te:n_te + n_train // 2]), np.sort(docs[:n_te]))
    return pools


def one_vs_rest(pools: dict[str, np.ndarray], cls: str, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """All documents of `cls` against as many drawn evenly from the other classes (SAEBench's
    prepare_probe_data: ceil(n / (classes - 1)) from each, then n of those). Sorted by document."""
    pos = pools[cls]
    others = [c for c in pools if c != cls]
    per_class = math.ceil(len(pos) / max(len(others), 1))
    neg = np.concatenate([pools[c][rng.permutation(len(pools[c]))[:per_class]] for c in others]
                         or [np.zeros(0, np.int64)])
    neg = neg[rng.permutation(len(neg))[:len(pos)]]
    pos = pos[rng.permutation(len(pos))[:len(neg)]]  # balanced when the others hold fewer
    docs = np.concatenate([pos, neg])
    y = np.concatenate([np.ones(len(pos), np.int8), np.zeros(len(neg), np.int8)])
    order = np.argsort(docs, kind="stable")
    return docs[order], y[order]


def build_tasks(dataset: str, labels: dict[str, Sequence[str | None]], n_train: int, n_test: int,
                seed: int) -> list[Task]:
    """Every class of every label set as a balanced one-vs-rest task. Seeded per (data set, label set), so
    adding a data set or a label set leaves the others' tasks unchanged."""
    tasks = []
    for label_set, ls_labels in sorted(labels.items()):
        rng = np.random.default_rng([seed, _stable_hash(dataset), _stable_hash(label_set)])
        pools = class_pools(ls_labels, n_train, n_test, rng)
        if len(pools) < 2:
            continue  # one class: nothing to tell apart
        for cls in pools:
            train_docs, train_y = one_vs_rest({c: p[0] for c, p in pools.items()}, cls, rng)
            test_docs, test_y = one_vs_rest({c: p[1] for c, p in pools.items()}, cls, rng)
            if train_y.sum() == 0 or test_y.sum() == 0:
                continue  # too few documents of this class for a task
            tasks.append(Task(dataset, f"{label_set}:{cls}", train_docs, train_y, test_docs, test_y))
    return tasks


def _stable_hash(text: str) -> int:
    """A seed component from a name (Python's hash() is salted per process)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def rank_latents(x_train_NF: np.ndarray, y_train_N: np.ndarray) -> np.ndarray:
    """Latents by |mean over positives - mean over negatives| on the training documents, largest first
    (ties: lower index first)."""
    diff_F = np.abs(x_train_NF[y_train_N == 1].mean(0, dtype=np.float64)
                    - x_train_NF[y_train_N == 0].mean(0, dtype=np.float64))
    return np.argsort(-diff_F, kind="stable")


def probe_accuracy(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Test accuracy of an L2 logistic regression fitted on the training rows."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    if len(np.unique(y_train)) < 2:
        raise ValueError("a probe needs both classes in its training documents")
    probe = LogisticRegression(C=PROBE_C, max_iter=PROBE_MAX_ITER)
    with warnings.catch_warnings():
        # Unscaled features (as SAEBench) can stop lbfgs at max_iter; the accuracy is reported as reached.
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(x_train.astype(np.float64), y_train)
    return float((probe.predict(x_test.astype(np.float64)) == y_test).mean())


def sparse_probe(x_ND: np.ndarray, task: Task, ks: Sequence[int]) -> dict:
    """top_<k> accuracy for each k, the ranked latents (the first max(ks)), and the task's sizes."""
    ranked = rank_latents(x_ND[task.train_docs], task.train_y)
    out = {"dataset": task.dataset, "task": task.task, "n_train": len(task.train_docs),
           "n_test": len(task.test_docs), "top_latents": ranked[:max(ks)].tolist()}
    for k in ks:
        keep = np.sort(ranked[:k])
        out[f"top_{k}"] = probe_accuracy(x_ND[task.train_docs][:, keep], task.train_y,
                                         x_ND[task.test_docs][:, keep], task.test_y)
    return out


def dense_probe(x_ND: np.ndarray, task: Task) -> float:
    return probe_accuracy(x_ND[task.train_docs], task.train_y, x_ND[task.test_docs], task.test_y)


def task_group(record: dict) -> str:
    """The SAEBench data set a task belongs to: its data set and label set (`<label set>:<class>` tasks).
    SAEBench's data sets are one label set each (amazon reviews' category and sentiment are two)."""
    return f"{record['dataset']}/{record['task'].split(':', 1)[0]}"


def summarise(records: list[dict], ks: Sequence[int]) -> dict:
    """top_<k> and dense as SAEBench averages them (`average_results_dictionaries`): over the classes of each
    data set, then over the data sets, so a data set with many classes does not outweigh the others; the
    plain mean over tasks as <key>_task_mean; the task count and the per-task records."""
    out = {"n_tasks": len(records), "ks": list(ks), "tasks": records}
    for key in [f"top_{k}" for k in ks] + ["dense"]:
        by_group: dict[str, list[float]] = {}
        for r in records:
            if r.get(key) is not None:
                by_group.setdefault(task_group(r), []).append(r[key])
        values = [v for vs in by_group.values() for v in vs]
        out[key] = float(np.mean([np.mean(vs) for vs in by_group.values()])) if by_group else None
        out[f"{key}_task_mean"] = float(np.mean(values)) if values else None
    out["task_groups"] = sorted({task_group(r) for r in records})
    return out


# ----------------------------------------------------------------------------------------------------------
# Mean pooling over a token store (rows in (document, position) order, as harvest writes them).

def token_batches(store_dir: str | Path, special_ids: Sequence[int],
                  batch_rows: int = 32_768) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(doc [n], act [n, d] float32) of a harvested store, special tokens (BOS, PAD, EOS) dropped."""
    from saesanity.data.store import ActivationStore, column_to_numpy
    store = ActivationStore.open(store_dir)
    special = np.asarray(sorted(set(special_ids)), dtype=np.int64)
    for shard in store.shards:
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=batch_rows, columns=["act", "doc", "token_id"]):
            keep = ~np.isin(batch.column("token_id").to_numpy(), special)
            act = column_to_numpy(batch.column("act"), store.d).astype(np.float32, copy=False)
            yield batch.column("doc").to_numpy()[keep], act[keep]


def mean_pool(batches: Iterator[tuple[np.ndarray, np.ndarray]], n_docs: int, encode=None) -> np.ndarray:
    """[n_docs, width] means over each document's rows of encode(act) (encode None: the activations
    themselves). Every token is encoded on its own and then averaged. Documents without rows stay 0."""
    import torch
    sums = None
    counts = np.zeros(n_docs, np.int64)
    for doc, act in batches:
        if len(doc) == 0:
            continue
        x = torch.from_numpy(act)
        with torch.no_grad():
            z = encode(x).float().cpu() if encode is not None else x
        if sums is None:
            sums = torch.zeros(n_docs, z.shape[1], dtype=torch.float32)
        # Rows come sorted by document: add each document's block with one index_add (deterministic on CPU).
        sums.index_add_(0, torch.from_numpy(doc.astype(np.int64)), z)
        np.add.at(counts, doc, 1)
    if sums is None:
        raise ValueError("the token store holds no rows outside special tokens")
    return (sums / torch.from_numpy(np.maximum(counts, 1)).float()[:, None]).numpy()


def pooled_by_dataset(batches: Iterator[tuple[np.ndarray, np.ndarray]], bounds: Sequence[tuple[int, int]],
                      encode=None) -> Iterator[np.ndarray]:
    """mean_pool of each data set in turn, in one pass over the store: data set i holds documents
    [lo_i, hi_i), contiguous and in store order, so only one data set's features are in memory at a time."""
    it = iter(batches)
    pending: list = []

    def rows(lo: int, hi: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        while True:
            if not pending:
                nxt = next(it, None)
                if nxt is None:
                    return
                pending.append(nxt)
            doc, act = pending.pop()
            inside = doc < hi
            if not inside.all():
                pending.append((doc[~inside], act[~inside]))
            if inside.any():
                yield doc[inside] - lo, act[inside]
            if pending:
                return

    for lo, hi in bounds:
        yield mean_pool(rows(lo, hi), hi - lo, encode)
