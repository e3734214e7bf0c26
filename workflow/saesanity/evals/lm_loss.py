"""Downstream loss with the SAE spliced into the language model (SAEBench core metrics, as used by
arXiv 2602.14111): the activations at the hook are replaced by the SAE's reconstruction, and the next-token
cross-entropy and the KL divergence from the clean model are compared with zero ablation at the same hook:

    CE-loss recovered = (CE_zero - CE_sae) / (CE_zero - CE_clean)
    KL score          = (KL_zero - KL_sae) / KL_zero,  KL = KL(p_clean || p_patched), mean over tokens.

Only the positions the SAE was trained on are replaced: the BOS position, and any position harvest left out
as a massive activation (saesanity.lm.harvest), keep their activations in both the SAE and the
zero-ablation run (the SAE never saw them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from saesanity.atomic import atomic_path, write_json
from saesanity.data.store import ActivationStore, StoreError
from saesanity.lm.model import LanguageModel, ModelSpec, load_model, pad_batch

Reconstruct = Callable[[torch.Tensor], torch.Tensor]


def _splice(reconstruct: Reconstruct, keep_BT: torch.Tensor | None) -> Callable[[torch.Tensor], torch.Tensor]:
    """Replaces every position after BOS by `reconstruct` of it, except where `keep_BT` is True."""
    def replace(act_BTD: torch.Tensor) -> torch.Tensor:
        out = act_BTD.clone()
        B, T, D = act_BTD.shape
        x_ND = act_BTD[:, 1:].reshape(-1, D).float()
        out[:, 1:] = reconstruct(x_ND).reshape(B, T - 1, D).to(act_BTD.dtype)
        if keep_BT is not None:
            keep_BT_ = keep_BT.to(act_BTD.device)
            out[keep_BT_] = act_BTD[keep_BT_]
        return out
    return replace


def _runs(lm: LanguageModel, hook: str, tokens_BT: torch.Tensor, patches: dict[str, Reconstruct],
          keep_BT: torch.Tensor | None, act_BTD: torch.Tensor | None = None):
    """(name, logits) of the clean run, then of each patched run. Where the model can resume at the hook, the
    layers before it run once for all of them (on SmolLM2 at layer 12 of 30, 40% of each forward pass), or
    not at all when `act_BTD` (the activations at the hook) is given."""
    if act_BTD is None and lm.resumes_at(hook):
        act_BTD = lm.activations(tokens_BT, hook)
    if act_BTD is not None:
        yield "clean", lm.logits_from(act_BTD, hook)
        for name, reconstruct in patches.items():
            yield name, lm.logits_from(_splice(reconstruct, keep_BT)(act_BTD), hook)
        return
    yield "clean", lm.logits(tokens_BT)
    for name, reconstruct in patches.items():
        yield name, lm.logits_with(tokens_BT, hook, _splice(reconstruct, keep_BT))


def _batches(docs: Sequence[list[int]], keep: Sequence[Sequence[int]] | None, batch_docs: int, pad_id: int):
    """Per batch of `batch_docs` documents: tokens [B, T], the positions kept clean (or None), the mask of
    positions that predict a next token, and those next tokens."""
    for i in range(0, len(docs), batch_docs):
        batch = docs[i:i + batch_docs]
        tokens_BT = pad_batch(batch, pad_id)
        keep_BT = None
        if keep is not None and any(keep[i:i + batch_docs]):
            keep_BT = torch.zeros(tokens_BT.shape, dtype=torch.bool)
            for b, positions in enumerate(keep[i:i + batch_docs]):
                keep_BT[b, list(positions)] = True
        lengths = torch.tensor([len(s) for s in batch])
        # Predictions at positions 0..len-2 of each document; padding and the last token predict nothing.
        mask_BT = torch.arange(tokens_BT.shape[1] - 1)[None, :] < (lengths[:, None] - 1)
        yield tokens_BT, keep_BT, mask_BT, tokens_BT[:, 1:][mask_BT]


def _batch_sums(lm: LanguageModel, hook: str, batch, patches: dict[str, Reconstruct],
                act_BTD: torch.Tensor | None = None,
                per_doc: bool = True) -> tuple[dict[str, float], dict[str, torch.Tensor]]:
    """ce_<run> for the clean and each patched run, kl_<patch> for each patch: sums over the batch's tokens,
    and with `per_doc` the same per document (float64 [B]: the items of the verdict's bootstrap,
    saesanity.sanity.intervals; else {}). The batch sums are taken over all tokens at once, not from the
    per-document ones, so they keep their bits."""
    tokens_BT, keep_BT, mask_BT, target_N = batch
    logp = {name: F.log_softmax(logits[:, :-1].float().cpu()[mask_BT], dim=-1)
            for name, logits in _runs(lm, hook, tokens_BT, patches, keep_BT, act_BTD)}
    sums = {f"ce_{name}": float(F.nll_loss(lp, target_N, reduction="sum")) for name, lp in logp.items()}
    p_clean = logp["clean"].exp()
    kl_NV = {name: p_clean * (logp["clean"] - logp[name]) for name in patches}
    sums.update({f"kl_{name}": float(kl.sum()) for name, kl in kl_NV.items()})
    if not per_doc:
        return sums, {}
    per_token = {f"ce_{name}": F.nll_loss(lp, target_N, reduction="none") for name, lp in logp.items()}
    per_token.update({f"kl_{name}": kl.sum(-1) for name, kl in kl_NV.items()})
    # mask_BT selects positions row by row, so the flat tokens run document by document.
    doc_N = torch.arange(mask_BT.shape[0]).repeat_interleave(mask_BT.sum(1))
    per_doc = {k: torch.zeros(mask_BT.shape[0], dtype=torch.float64).index_add_(0, doc_N, v.double())
               for k, v in per_token.items()}
    return sums, per_doc


@torch.no_grad()
def spliced_loss(lm: LanguageModel, hook: str, docs: Sequence[list[int]], reconstruct: Reconstruct,
                 batch_docs: int = 64, keep: Sequence[Sequence[int]] | None = None,
                 reference: dict[str, torch.Tensor] | None = None, per_doc: bool = False) -> dict:
    """CE clean / SAE / zero, KL of SAE and zero, and the two scores, over next tokens of `docs` (BOS first);
    with `per_doc`, `docs` holds each of those sums per document too (the items of the sanity verdict's
    bootstrap: both scores are ratios of sums over documents, saesanity.sanity.intervals).
    `keep`: per document, positions left clean in both patched runs (harvest's outliers). `reference`:
    zero_ablation_reference of the same documents, so the zero-ablation run and the layers before the hook
    are not run again (the same sums, bit for bit)."""
    sums = {"ce_clean": 0.0, "ce_sae": 0.0, "ce_zero": 0.0, "kl_sae": 0.0, "kl_zero": 0.0}
    doc_sums: dict[str, list[torch.Tensor]] = {k: [] for k in sums}
    n_tokens = 0
    patches = {"sae": reconstruct} if reference is not None else {"sae": reconstruct, "zero": torch.zeros_like}
    for b, batch in enumerate(_batches(docs, keep, batch_docs, lm.pad_id)):
        act_BTD = (reference or {}).get(f"act_{b}")
        part, docs_part = _batch_sums(lm, hook, batch, patches, None if act_BTD is None else act_BTD.to(lm.device),
                                      per_doc)
        if reference is not None:
            part.update(ce_zero=float(reference["ce_zero"][b]), kl_zero=float(reference["kl_zero"][b]))
            if per_doc:
                docs_part.update({k: reference[f"{k}_docs"][b * batch_docs:(b + 1) * batch_docs]
                                  for k in ("ce_zero", "kl_zero") if f"{k}_docs" in reference})
        for k in sums:
            sums[k] += part[k]
            doc_sums[k].append(docs_part.get(k, torch.empty(0)))
        n_tokens += int(batch[2].sum())
    m = {k: v / n_tokens for k, v in sums.items()}
    # Undefined (None, JSON null) only when zero ablation changes nothing; a model that does better with
    # the hook zeroed (an untrained one) gives a negative denominator, and the score is reported as is.
    denom_ce = m["ce_zero"] - m["ce_clean"]
    m["ce_loss_recovered"] = (m["ce_zero"] - m["ce_sae"]) / denom_ce if denom_ce != 0 else None
    m["kl_div_score"] = (m["kl_zero"] - m["kl_sae"]) / m["kl_zero"] if m["kl_zero"] > 0 else None
    m["n_tokens"] = n_tokens
    m["n_docs"] = len(docs)
    m["n_kept_clean"] = sum(len(k) for k in keep) if keep is not None else 0
    if per_doc:
        doc_lists = {k: torch.cat(v).tolist() for k, v in doc_sums.items()}
        # Absent where the reference predates the per-document sums (rule lm_loss_prep rebuilds it).
        if all(len(v) == len(docs) for v in doc_lists.values()):
            m["docs"] = doc_lists
    return m


@torch.no_grad()
def zero_ablation_reference(lm: LanguageModel, hook: str, docs: Sequence[list[int]], batch_docs: int = 64,
                            keep: Sequence[Sequence[int]] | None = None) -> dict[str, torch.Tensor]:
    """What spliced_loss computes the same way for every SAE at a hook: per batch, the zero-ablation run's
    CE and KL sums (ce_zero, kl_zero: float64 [n_batches]), the same per document (ce_zero_docs, kl_zero_docs:
    float64 [n_docs]) and, where the model resumes at the hook, the activations there (act_<batch>)."""
    out: dict[str, torch.Tensor] = {}
    ce, kl, ce_docs, kl_docs = [], [], [], []
    for b, batch in enumerate(_batches(docs, keep, batch_docs, lm.pad_id)):
        act_BTD = lm.activations(batch[0], hook) if lm.resumes_at(hook) else None
        if act_BTD is not None:
            out[f"act_{b}"] = act_BTD.detach().cpu().contiguous()
        part, docs_part = _batch_sums(lm, hook, batch, {"zero": torch.zeros_like}, act_BTD)
        ce.append(part["ce_zero"])
        kl.append(part["kl_zero"])
        ce_docs.append(docs_part["ce_zero"])
        kl_docs.append(docs_part["kl_zero"])
    return {**out, "ce_zero": torch.tensor(ce, dtype=torch.float64), "kl_zero": torch.tensor(kl, dtype=torch.float64),
            "ce_zero_docs": torch.cat(ce_docs), "kl_zero_docs": torch.cat(kl_docs)}


REFERENCE_TENSORS, REFERENCE_JSON = "zero_ablation.safetensors", "reference.json"
"""The folder written by write_reference (rule lm_loss_prep): zero_ablation_reference's tensors and what
they were computed on."""


def _heldout(model: ModelSpec, hook: str, heldout: str | Path, n_docs: int):
    store = ActivationStore.open(heldout)
    if store.meta.get("hook") != hook:
        raise StoreError(f"{heldout}: harvested at hook {store.meta.get('hook')!r}, not {hook!r}")
    lm = load_model(model)
    docs, keep = heldout_documents(store, lm.bos_id, n_docs)
    return lm, docs, keep


def _reference_record(lm: LanguageModel, hook: str, docs: Sequence[list[int]], keep: Sequence[Sequence[int]],
                      batch_docs: int) -> dict:
    """What a reference was computed on; docs_sha256 covers the documents' tokens and the positions kept clean."""
    inputs = [[list(map(int, d)) for d in docs], [list(map(int, k)) for k in keep]]
    digest = hashlib.sha256(json.dumps(inputs).encode()).hexdigest()
    return {"model": lm.name, "hook": hook, "n_docs": len(docs), "batch_docs": batch_docs, "docs_sha256": digest}


def write_reference(model: ModelSpec, hook: str, heldout: str | Path, n_docs: int, batch_docs: int,
                    out: str | Path) -> None:
    """The zero-ablation reference of the held-out documents, once per model and hook (rule lm_loss_prep),
    so that each SAE's eval_lm_loss runs only the clean and spliced layers after the hook."""
    lm, docs, keep = _heldout(model, hook, heldout, n_docs)
    with atomic_path(out) as tmp:
        tmp.mkdir()
        save_file(zero_ablation_reference(lm, hook, docs, batch_docs, keep), str(tmp / REFERENCE_TENSORS))
        write_json(tmp / REFERENCE_JSON, _reference_record(lm, hook, docs, keep, batch_docs))


def _read_reference(folder: str | Path, want: dict) -> dict[str, torch.Tensor]:
    """The reference tensors, once reference.json says they were computed on the same model, hook,
    documents and batches."""
    record = json.loads((Path(folder) / REFERENCE_JSON).read_text())
    wrong = {k: (record.get(k), v) for k, v in want.items() if record.get(k) != v}
    if wrong:
        raise ValueError(f"{folder}: the zero-ablation reference was computed on other inputs (field: (reference, "
                         f"this evaluation)): {wrong}; rebuild it (rule lm_loss_prep, or `python -m saesanity "
                         f"lm-loss-prep`) with this evaluation's spec and held-out store")
    return load_file(str(Path(folder) / REFERENCE_TENSORS))


def lm_loss_metrics(sae_dir: str | Path, model: ModelSpec, hook: str, heldout: str | Path, n_docs: int,
                    batch_docs: int = 64, reference: str | Path | None = None) -> dict:
    """The record of one SAE: its identity, the hook, and spliced_loss on the first `n_docs` held-out
    documents of the harvested store `heldout`. `reference`: write_reference's folder for the same inputs
    (else the zero-ablation run is done here)."""
    from saesanity.evals.identity import sae_identity
    from saesanity.sae.io import load_sae
    lm, docs, keep = _heldout(model, hook, heldout, n_docs)
    ref = _read_reference(reference, _reference_record(lm, hook, docs, keep, batch_docs)) if reference else None
    sae = load_sae(sae_dir).to(lm.device)
    return {**sae_identity(sae_dir), "hook": hook,
            **spliced_loss(lm, hook, docs, sae, batch_docs, keep, ref, per_doc=True)}


def heldout_documents(store: ActivationStore, bos_id: int, max_docs: int) -> tuple[list[list[int]], list[list[int]]]:
    """Token lists (BOS first) of the first `max_docs` documents of a harvested store, rebuilt from its
    `doc`, `pos` and `token_id` columns and the rows harvest left out as outliers (meta.json
    `outlier_rows`): exactly the tokens its activations came from; and per document, the positions of
    those outliers. Reads shards only until `max_docs` documents are complete (harvest writes documents
    in order)."""
    parts: list[dict[str, np.ndarray]] = []
    seen: set[int] = set()
    for shard in store.shards:
        for batch in pq.ParquetFile(shard).iter_batches(columns=["doc", "pos", "token_id"]):
            part = {k: batch.column(k).to_numpy() for k in ("doc", "pos", "token_id")}
            parts.append(part)
            seen.update(np.unique(part["doc"]).tolist())
            if len(seen) > max_docs:  # the (max_docs + 1)-th document has begun: the first max_docs are whole
                break
        if len(seen) > max_docs:
            break
    if not parts:
        raise StoreError(f"{store.folder}: no rows")
    outliers = [r for r in store.meta.get("outlier_rows", []) if r["doc"] in seen]
    parts.append({k: np.array([r[k] for r in outliers], dtype=np.int64) for k in ("doc", "pos", "token_id")})
    doc = np.concatenate([p["doc"] for p in parts])
    pos = np.concatenate([p["pos"] for p in parts])
    tok = np.concatenate([p["token_id"] for p in parts])
    order = np.lexsort((pos, doc))
    doc, pos, tok = doc[order], pos[order], tok[order]
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    ends = np.r_[starts[1:], len(doc)]
    starts, ends = starts[:max_docs], ends[:max_docs]
    if any(not np.array_equal(pos[s:e], np.arange(1, e - s + 1)) for s, e in zip(starts, ends)):
        raise StoreError(f"{store.folder}: a document has missing positions; the store is not a whole harvest")
    docs = [[bos_id, *tok[s:e].tolist()] for s, e in zip(starts, ends)]
    first = {int(doc[s]): i for i, s in enumerate(starts)}
    keep: list[list[int]] = [[] for _ in docs]
    for r in outliers:
        if r["doc"] in first:
            keep[first[r["doc"]]].append(r["pos"])
    return docs, keep
