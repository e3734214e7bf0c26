"""Ground-truth concept check (beyond arXiv 2602.14111, possible because the toy world's concepts are
known): per held-out token, each concept's presence against each latent's firing (z > 0). A concept is
detected when some latent reaches F1 >= threshold, F1 = 2 TP / (2 TP + FP + FN) = 2 TP / (fires + support).
Concepts are of three kinds: a word's tag (`topic:travel`), its value (`entity:city=paris`) and the token
itself (`token=paris`); saesanity.evals.autointerp.reference shows which of them a dictionary can detect."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from saesanity.evals.autointerp.contexts import TOKEN


def concept_matrix(row_concepts: Sequence[frozenset[str]]) -> tuple[list[str], np.ndarray]:
    """The concepts that occur, sorted, and the [N, K] presence matrix of the rows."""
    names = sorted(frozenset().union(*row_concepts)) if row_concepts else []
    return names, presence(row_concepts, names)


def concept_f1(names: Sequence[str], c_NK: np.ndarray, fired_rows: np.ndarray, fired_latents: np.ndarray,
               d_sae: int, threshold: float) -> dict:
    """concepts.json's record from the presence matrix and the (row, latent) pairs where a latent fires."""
    n = len(c_NK)
    tp_FK, fires_F, support_K, f1_FK = f1_counts(c_NK, fired_rows, fired_latents, d_sae)
    rows = []
    for k, name in enumerate(names):
        j = int(f1_FK[:, k].argmax())  # the lowest latent index among equals
        tp, fires, support = float(tp_FK[j, k]), float(fires_F[j]), float(support_K[k])
        rows.append({"concept": name, "best_latent": j, "f1": float(f1_FK[j, k]),
                     "precision": tp / fires if fires else None, "recall": tp / support if support else None,
                     "support": int(support)})
    detected = [r["f1"] >= threshold for r in rows]
    by_kind = {}
    for kind, is_kind in (("tag", lambda c: "=" not in c), ("value", lambda c: "=" in c and not c.startswith(TOKEN)),
                          ("token", lambda c: c.startswith(TOKEN))):
        sel = [d for d, r in zip(detected, rows) if is_kind(r["concept"])]
        by_kind[kind] = float(np.mean(sel)) if sel else None
    return {"fraction_detected": float(np.mean(detected)) if rows else None, "threshold": threshold,
            "n_concepts": len(rows), "n_detected": int(sum(detected)), "n_tokens": n,
            "fraction_detected_by_kind": by_kind, "concepts": rows}


def f1_counts(c_NK: np.ndarray, fired_rows: np.ndarray, fired_latents: np.ndarray,
              d_sae: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per latent and concept, from the [N, K] presence matrix and the (row, latent) pairs where a latent
    fires: true positives tp_FK, firings fires_F, support_K and F1 = 2 TP / (fires + support), all float64
    (the counts exact: float64 holds integers up to 2^53)."""
    n = len(c_NK)
    fired = torch.sparse_coo_tensor(np.stack([fired_latents, fired_rows]), torch.ones(len(fired_rows)),
                                    (d_sae, n), check_invariants=False).coalesce()
    tp_FK = torch.sparse.mm(fired.double(), torch.from_numpy(c_NK).double())
    fires_F = torch.from_numpy(np.bincount(fired_latents, minlength=d_sae)).double()
    support_K = torch.from_numpy(c_NK.sum(0)).double()
    f1_FK = 2 * tp_FK / (fires_F[:, None] + support_K[None, :]).clamp_min(1)
    return tp_FK, fires_F, support_K, f1_FK


def presence(row_concepts: Sequence[frozenset[str]], names: Sequence[str]) -> np.ndarray:
    """The [N, K] presence matrix of the rows for the given concept names (others ignored)."""
    col = {c: k for k, c in enumerate(names)}
    c_NK = np.zeros((len(row_concepts), len(names)), dtype=bool)
    for n, concepts in enumerate(row_concepts):
        c_NK[n, [col[c] for c in concepts if c in col]] = True
    return c_NK
