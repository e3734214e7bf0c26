"""Interpretability by detection scoring (Paulo et al., arXiv 2410.13928; the protocol of SAEBench used by
arXiv 2602.14111, section 5): for up to `n_latents` random live latents, an explainer sees the latent's
top-activating contexts from the training store, then a judge, given only the explanation, classifies
held-out contexts where the latent fires and random held-out contexts where it does not; the latent's
score is the judge's accuracy, the SAE's score the mean over latents.

On the toy world the same held-out encoding also gives the ground-truth concept check (concepts.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from saesanity.data.store import ActivationStore, StoreError
from saesanity.evals.autointerp.config import AutoInterpConfig
from saesanity.evals.autointerp.concepts import concept_f1, concept_matrix
from saesanity.evals.autointerp.contexts import Context, StoreIndex, TokenLabels
from saesanity.evals.core import DEAD_FREQUENCY
from saesanity.evals.autointerp.explainers import GroundTruthError, GroundTruthInterpreter, Interpreter, LLMInterpreter
from saesanity.sae.base import SAE

ABOVE = 0.7
"""frac_above_0.7: the fraction of scored latents with accuracy above this."""


@dataclass(frozen=True)
class Firing:
    """Where latents fire: one entry per (row, latent) with z > 0, sorted by latent, then row."""

    rows: np.ndarray
    latents: np.ndarray
    values: np.ndarray

    @classmethod
    def collect(cls, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> Firing:
        rows, latents, values = (np.concatenate([p[i] for p in parts]) for i in range(3))
        order = np.lexsort((rows, latents))
        return cls(rows[order], latents[order], values[order])

    def of(self, latent: int) -> tuple[np.ndarray, np.ndarray]:
        """Rows (ascending) and activations of one latent."""
        lo, hi = np.searchsorted(self.latents, [latent, latent + 1])
        return self.rows[lo:hi], self.values[lo:hi]


@torch.no_grad()
def encode_firing(sae: SAE, store: ActivationStore, latents: np.ndarray | None = None, limit: int | None = None,
                  chunk_rows: int = 8192) -> Firing:
    """Nonzero latents (all, or the columns `latents`, renumbered 0..len-1) of the store's first rows,
    encoded on the SAE's device."""
    parts, offset = [], 0
    device = next(sae.parameters()).device
    cols = None if latents is None else torch.from_numpy(np.asarray(latents, dtype=np.int64)).to(device)
    for x in store.iter_chunks(chunk_rows=chunk_rows, limit=limit):
        z_BF = sae.encode(torch.from_numpy(x).to(device))
        if cols is not None:
            z_BF = z_BF[:, cols]
        r, f = torch.nonzero(z_BF > 0, as_tuple=True)
        parts.append(((r + offset).cpu().numpy(), f.cpu().numpy(), z_BF[r, f].cpu().numpy()))
        offset += len(x)
    if not parts:
        raise StoreError(f"{store.folder}: no rows")
    return Firing.collect(parts)


def top_rows(group_R: np.ndarray, rows: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """The rows of the n largest activations, at most one per group (document, or image; `group_R` holds each
    row's), as SAEBench keeps top contexts apart; largest first, ties by row."""
    picked, docs = [], set()
    for i in np.lexsort((rows, -values)):
        d = int(group_R[rows[i]])
        if d not in docs:
            docs.add(d)
            picked.append(rows[i])
            if len(picked) == n:
                break
    return np.asarray(picked, dtype=np.int64)


def stratified_rows(rows: np.ndarray, values: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows, one from each of n equal strata of activation quantiles (Paulo et al. sample activating
    contexts across quantiles, not only the top); all rows when there are at most n."""
    if len(rows) <= n:
        return rows
    strata = np.array_split(np.argsort(values, kind="stable"), n)
    return np.array([rows[s[rng.integers(len(s))]] for s in strata])


def _quiet_rows(index: StoreIndex, fired_rows: np.ndarray, cfg: AutoInterpConfig, n: int,
                rng: np.random.Generator) -> np.ndarray:
    """n random rows whose whole context window holds no firing of the latent."""
    fired_N = np.zeros(len(index), dtype=np.int64)
    fired_N[fired_rows] = 1
    cum = np.r_[0, np.cumsum(fired_N)]
    all_rows = np.arange(len(index))
    start, end = index.windows(all_rows, cfg.window_before, cfg.window_after)
    quiet = all_rows[cum[end] - cum[start] == 0]
    return np.sort(rng.choice(quiet, min(n, len(quiet)), replace=False))


def _contexts(labels: TokenLabels, index: StoreIndex, rows: np.ndarray, cfg: AutoInterpConfig,
              act_rows: np.ndarray | None = None, act_values: np.ndarray | None = None) -> list[Context]:
    """Context windows around `rows`; with activations (sorted `act_rows` and their values) for explainers."""
    start, end = index.windows(rows, cfg.window_before, cfg.window_after)
    out = []
    for s, e in zip(start, end):
        acts = None
        if act_rows is not None:
            w = np.arange(s, e)  # act_rows holds the context's own row, so it is never empty here
            i = np.searchsorted(act_rows, w).clip(max=len(act_rows) - 1)
            acts = np.where(act_rows[i] == w, act_values[i], 0.0)
        out.append(labels.context(index, int(s), int(e), acts))
    return out


def score_latent(interpreter: Interpreter, explain: Sequence[Context], activating: Sequence[Context],
                 random: Sequence[Context], rng: np.random.Generator) -> dict:
    """Detection accuracy of one latent: the judge sees activating and random contexts shuffled together."""
    explanation = interpreter.explain(explain)
    contexts = list(activating) + list(random)
    labels = np.r_[np.ones(len(activating), bool), np.zeros(len(random), bool)]
    order = rng.permutation(len(contexts))
    predicted = np.asarray(interpreter.judge(explanation, [contexts[i] for i in order]), dtype=bool)
    if len(predicted) != len(contexts):
        raise ValueError(f"the judge answered {len(predicted)} times for {len(contexts)} contexts")
    correct = predicted == labels[order]
    truth = labels[order]
    # Split by class: which side of the protocol a latent loses points on.
    return {"explanation": explanation, "accuracy": float(correct.mean()),
            "accuracy_activating": float(correct[truth].mean()) if truth.any() else None,
            "accuracy_random": float(correct[~truth].mean()) if (~truth).any() else None,
            "n_activating": len(activating), "n_random": len(random)}


def evaluate_autointerp(sae: SAE, train: ActivationStore, heldout: ActivationStore, cfg: AutoInterpConfig,
                        load_labels: Callable[[list[np.ndarray]], TokenLabels],
                        make_interpreter: Callable[[list[Context]], Interpreter],
                        concepts: bool = False) -> tuple[dict, dict | None]:
    """autointerp.json's metrics (without the SAE's identity) and, with `concepts`, concepts.json's.
    `load_labels` gets the document ids of the store indexes it must label (held-out, training)."""
    sae.eval()
    d_sae = sae.cfg.d_sae
    h_index = StoreIndex.read(heldout)
    h_firing = encode_firing(sae, heldout)
    fires_F = np.bincount(h_firing.latents, minlength=d_sae)
    # Live on held-out data (SAEBench: dead = firing frequency < 1e-6): a latent that never fires there has
    # no activating held-out context to judge.
    live = np.flatnonzero(fires_F / len(h_index) >= DEAD_FREQUENCY)
    chosen = np.sort(np.random.default_rng([cfg.seed, 0]).choice(live, min(cfg.n_latents, len(live)),
                                                                 replace=False))
    t_index = StoreIndex.read(train, limit=cfg.train_tokens)
    t_firing = encode_firing(sae, train, latents=chosen, limit=cfg.train_tokens)
    bg_rows = np.sort(np.random.default_rng([cfg.seed, 1]).choice(len(t_index), min(cfg.n_background,
                                                                                    len(t_index)), replace=False))
    top = {int(j): top_rows(t_index.doc, *t_firing.of(c), cfg.n_explain) for c, j in enumerate(chosen)}
    # A context never leaves its document: the documents to label are those of the contexts' own rows.
    labels = load_labels([h_index.doc, t_index.doc[np.concatenate([bg_rows, *top.values()])]])

    concept_record = None
    if concepts:
        if not labels.has_concepts:
            raise GroundTruthError("the concept check needs concept tags (the toy world's documents.parquet)")
        names, c_NK = concept_matrix(labels.row_concepts(h_index, np.arange(len(h_index)), tokens=True))
        concept_record = concept_f1(names, c_NK, h_firing.rows, h_firing.latents, d_sae, cfg.concept_threshold)

    interpreter = make_interpreter(_contexts(labels, t_index, bg_rows, cfg))
    latents = []
    for c, j in enumerate(chosen):
        rng = np.random.default_rng([cfg.seed, 2, int(j)])
        t_rows, t_vals = t_firing.of(c)
        h_rows, h_vals = h_firing.of(int(j))
        explain = _contexts(labels, t_index, top[int(j)], cfg, t_rows, t_vals)
        if not explain:  # fires on held-out data but not in the scanned training tokens: nothing to explain
            continue
        activating = _contexts(labels, h_index, np.sort(stratified_rows(h_rows, h_vals, cfg.n_activating, rng)), cfg)
        random = _contexts(labels, h_index, _quiet_rows(h_index, h_rows, cfg, cfg.n_random, rng), cfg)
        latents.append({"latent": int(j), **score_latent(interpreter, explain, activating, random, rng)})
    acc = np.array([r["accuracy"] for r in latents])
    record = {"score": float(acc.mean()) if len(acc) else None, "n_scored": len(latents), "n_live": len(live),
              f"frac_above_{ABOVE}": float((acc > ABOVE).mean()) if len(acc) else None,
              "backend": cfg.backend, "latents": latents,
              "protocol": {"window_before": cfg.window_before, "window_after": cfg.window_after,
                           "n_explain": cfg.n_explain, "n_activating": cfg.n_activating, "n_random": cfg.n_random,
                           "train_tokens": len(t_index), "heldout_tokens": len(h_index), "seed": cfg.seed}}
    return record, concept_record


def autointerp_metrics(sae_dir: str | Path, train: str | Path, heldout: str | Path, cfg: AutoInterpConfig,
                       documents: str | Path | None = None, tokenizer: str | None = None,
                       concepts: bool = False, device: str = "cpu") -> tuple[dict, dict | None]:
    """The records of one SAE: autointerp.json and (with `concepts`) concepts.json. Token text and
    concepts come from the toy world's `documents` (documents.parquet) or, for a Hugging Face model,
    text only from its `tokenizer`. The SAE encodes on `device` (lm.device: 'auto', 'cpu', 'cuda', ...)."""
    from saesanity.evals.identity import sae_identity
    from saesanity.lm.model import resolve_device
    from saesanity.sae.io import load_sae
    if documents is None and (cfg.backend == "ground_truth" or concepts):
        raise GroundTruthError("evals.autointerp.backend 'ground_truth' and the concept check need the toy "
                               "world's concept tags; a Hugging Face model has none: use backend 'openai'")
    if documents is None and tokenizer is None:
        raise ValueError("autointerp needs token text: a toy-world documents.parquet or a tokenizer")

    def load_labels(doc_arrays: list[np.ndarray]) -> TokenLabels:
        if documents is not None:
            return TokenLabels.from_corpus(documents, np.concatenate(doc_arrays))
        return TokenLabels.from_tokenizer(tokenizer)

    # Built first, so that a missing key or model fails before any encoding.
    llm = None
    if cfg.backend == "openai":
        from saesanity.evals.autointerp.openai_client import ChatClient
        llm = LLMInterpreter(ChatClient(cfg.openai), cfg.openai.judge_batch)

    def make_interpreter(background: list[Context]) -> Interpreter:
        return GroundTruthInterpreter(background) if llm is None else llm

    record, concept_record = evaluate_autointerp(load_sae(sae_dir).to(resolve_device(device)),
                                                 ActivationStore.open(train),
                                                 ActivationStore.open(heldout), cfg, load_labels, make_interpreter,
                                                 concepts)
    identity = sae_identity(sae_dir)
    if llm is not None:
        record["openai"] = {"model": llm.client.model, "base_url": llm.client.base_url,
                            "unparsed_judge_answers": llm.unparsed}
    return {**identity, **record}, (None if concept_record is None else {**identity, **concept_record})
