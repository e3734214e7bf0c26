"""The jobs of probing in four regimes (arXiv 2502.16681; saesanity.studies.regimes has the protocol):

- `prepare_regimes` (once per model and hook): per data set, up to `max_docs` labelled documents (seeded),
  the language model run over them once, their token activations (`tokens/`, an activation store with doc,
  pos, token_id; harvest leaves BOS out), `docs.parquet` (dataset, doc, source_doc, one column per label
  set, covariate) and `prep.json` (each data set's document range and label sets, the special token ids);
- `regimes_probe` (the baselines once per model and hook; the SAE probes once per SAE): mean-pools the
  activations (or the SAE's latents of every token) per document, draws every setting and fits the probes.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.atomic import atomic_path, read_json
from saesanity.config import _check
from saesanity.lm.model import ModelSpec
from saesanity.studies.regime_probes import BASELINES, cv_splits, sae_ks, sae_probe
from saesanity.studies.regimes import (NotAvailable, RegimesConfig, build_tasks, draw, rng_for,
                                       settings, shift_unavailable, held_out_positions)

TOKENS, DOCS, PREP = "tokens", "docs.parquet", "prep.json"
FIXED_COLUMNS = ("dataset", "doc", "source_doc", "covariate")


@dataclass(frozen=True)
class RegimesPrepJob:
    model: ModelSpec
    hook: str
    regimes: RegimesConfig


def choose_documents(cfg: RegimesConfig) -> tuple[list[str], pd.DataFrame, list[dict]]:
    """Texts, docs.parquet's table and prep.json's data-set entries: per data set, up to max_docs of its
    documents with at least one label, drawn uniformly (seeded by the seed and the data set's name), in
    their original order, numbered on from the previous data set's."""
    from saesanity.evals.probing.data import load_labelled
    texts: list[str] = []
    frames, entries = [], []
    for ds in cfg.datasets:
        labelled = load_labelled(ds, cfg.max_docs)
        sets = sorted(labelled.labels)
        labelled_docs = np.flatnonzero([any(labelled.labels[s][i] is not None for s in sets)
                                        for i in range(len(labelled.texts))])
        chosen = np.sort(rng_for(cfg.seed, ds.name, "documents").permutation(labelled_docs)[:cfg.max_docs])
        lo = len(texts)
        texts += [labelled.texts[i] for i in chosen]
        cov = labelled.labels.get(cfg.covariate) if cfg.covariate else None
        frames.append(pd.DataFrame({"dataset": ds.name, "doc": np.arange(lo, len(texts), dtype=np.int64),
                                    "source_doc": chosen.astype(np.int64),
                                    "covariate": [cov[i] for i in chosen] if cov else None,
                                    **{s: [labelled.labels[s][i] for i in chosen] for s in sets}}))
        entries.append({"name": ds.name, "doc_lo": lo, "doc_hi": len(texts), "n_texts_read": len(labelled.texts),
                        "label_sets": sets, "covariate": cfg.covariate if cov else None})
        print(f"regimes {ds.name}: {len(chosen)} of {len(labelled_docs)} labelled documents", file=sys.stderr,
              flush=True)
    table = pd.concat(frames, ignore_index=True)
    table["covariate"] = table["covariate"].astype(object)
    return texts, table, entries


def prepare_regimes(job: RegimesPrepJob, out: str | Path) -> None:
    from saesanity.evals.probing.jobs import harvest_documents, special_token_ids
    from saesanity.lm.model import load_model
    cfg = job.regimes
    texts, table, entries = choose_documents(cfg)
    lm = load_model(job.model)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        harvest_documents(lm, job.hook, texts, tmp / TOKENS, cfg.batch_docs, cfg.dtype, "probing in four regimes")
        table.to_parquet(tmp / DOCS, index=False)
        write_prep(tmp, lm.name, job.hook, special_token_ids(lm), entries, cfg)


def write_prep(folder: Path, model: str, hook: str, special: list[int], entries: list[dict],
               cfg: RegimesConfig) -> None:
    prep = {"model": model, "hook": hook, "special_token_ids": special, "datasets": entries,
            "config": json.loads(json.dumps(dataclasses.asdict(cfg)))}
    (folder / PREP).write_text(json.dumps(prep, indent=1, sort_keys=True) + "\n")


def _labels(docs: pd.DataFrame, entry: dict) -> dict[str, list[str | None]]:
    sub = docs[docs["dataset"] == entry["name"]].sort_values("doc")
    _check(list(sub["doc"]) == list(range(entry["doc_lo"], entry["doc_hi"])), DOCS,
           f"documents of {entry['name']} are not {entry['doc_lo']}..{entry['doc_hi'] - 1}")
    return {s: [None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in sub[s]]
            for s in entry["label_sets"]}


def probe_features(x: np.ndarray, labels: dict, dataset: str, cfg: RegimesConfig, methods: dict) -> tuple[list, list]:
    """Records of every task, setting, repeat and method on one data set's pooled features `x`, and the
    settings that could not be drawn. `methods`: name -> f(x, y, x_test, y_test, splits) -> dict."""
    records, unavailable = [], []
    for task in build_tasks(dataset, labels, cfg.covariate):
        reason = shift_unavailable(cfg, task, labels)
        if reason:
            unavailable.append({"dataset": dataset, "task": task.task, "regime": "shift", "value": None,
                                "repeat": None, "reason": reason})
        test = held_out_positions(task, cfg.n_test, cfg.seed)
        xt = x[task.docs]
        for setting in settings(cfg, task):
            for repeat in range(cfg.repeats):
                key = {"dataset": dataset, "task": task.task, "regime": setting.regime, "value": setting.value,
                       "repeat": repeat}
                try:
                    d = draw(task, test, cfg, setting, repeat)
                except NotAvailable as err:
                    unavailable.append({**key, "reason": str(err)})
                    continue
                if len(np.unique(d.y_train)) < 2:
                    unavailable.append({**key, "reason": "one class left after flipping labels"})
                    continue
                splits = cv_splits(d.y_train)
                for name, fit in methods.items():
                    res = fit(xt[d.train], d.y_train, xt[d.test], d.y_test, splits)
                    records.append({**key, "method": name, "n_train": len(d.train), "n_pos": d.n_pos,
                                    "n_flipped": d.n_flipped, "n_test": len(d.test),
                                    "n_folds": 0 if splits is None else len(splits), **res})
    return records, unavailable


def regimes_probe(prep_dir: str | Path, cfg: RegimesConfig, sae_dir: str | Path | None = None,
                  device: str = "cpu") -> dict:
    """The JSON of one probe job: without an SAE the baselines on the mean-pooled activations, with one its
    top-k probes on the mean-pooled latents (every token encoded, then averaged per document)."""
    from saesanity.evals.probing.probes import pooled_by_dataset, token_batches
    prep_dir = Path(prep_dir)
    prep = read_json(prep_dir / PREP)
    docs = pd.read_parquet(prep_dir / DOCS)
    encode, batch_rows = None, 32_768
    if sae_dir is None:
        head = {"kind": "baseline", "source": f"{prep['model']}-{prep['hook']}"}
        methods = {m: BASELINES[m] for m in cfg.methods}
    else:
        import torch

        from saesanity.evals.identity import sae_identity
        from saesanity.lm.model import resolve_device
        from saesanity.sae.io import load_sae
        sae = load_sae(sae_dir).to(resolve_device(device)).eval()
        sae_device = next(sae.parameters()).device

        def encode(x: torch.Tensor) -> torch.Tensor:
            return sae.encode(x.to(sae_device))

        batch_rows = max(256, (1 << 22) // sae.cfg.d_sae)
        head = {"kind": "sae", **sae_identity(sae_dir)}
        methods = {f"sae_top{k}": (lambda k: lambda x, y, xt, yt, s: sae_probe(x, y, xt, yt, k, s))(k)
                   for k in sae_ks(cfg.ks, sae.cfg.d_sae)}
    records, unavailable = [], []
    bounds = [(d["doc_lo"], d["doc_hi"]) for d in prep["datasets"]]
    batches = token_batches(prep_dir / TOKENS, prep["special_token_ids"], batch_rows)
    for entry, pooled in zip(prep["datasets"], pooled_by_dataset(batches, bounds, encode)):
        r, u = probe_features(pooled, _labels(docs, entry), entry["name"], cfg, methods)
        records += r
        unavailable += u
    return {**head, "model": prep["model"], "hook": prep["hook"], "methods": list(methods),
            "records": records, "not_available": unavailable}
