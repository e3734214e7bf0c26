"""Can the concept check (saesanity.evals.concepts) tell a good dictionary from a bad one? Two references on
the same held-out tokens and the same F1 rule:
- ideal: one detector per concept, built from the world's known labels: Fisher's linear discriminant over
  training tokens, w = (Sigma + ridge) ^ -1 (mean(x | concept) - mean(x | not concept)), firing above the
  threshold that maximises F1 on those tokens. A concept it misses is not linearly readable from this hook
  (exchangeable words of one pool, e.g. two food verbs, get nearly the same representation), so no
  dictionary can be asked to find it.
- random: d_sae random directions (uniform on the sphere), each firing on its top target_l0 / d_sae of the
  training tokens: the firing budget of the SAEs, with no learning.
A check that separates the SAEs from `random` and approaches `ideal` can tell dictionaries apart."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from saesanity.data.store import ActivationStore
from saesanity.evals.autointerp.concepts import concept_f1, concept_matrix, presence
from saesanity.evals.autointerp.contexts import StoreIndex, TokenLabels


RIDGE = 1e-3
"""Ridge of the discriminant, relative to the mean variance per dimension."""


def best_f1_thresholds(scores_NK: torch.Tensor, c_NK: torch.Tensor) -> torch.Tensor:
    """Per column, the score threshold (fire when score > t) that maximises F1 against the labels."""
    order = scores_NK.argsort(dim=0, descending=True)
    tp_NK = c_NK.double().gather(0, order).cumsum(0)
    n_fired = torch.arange(1, len(scores_NK) + 1, dtype=torch.float64)[:, None]
    f1_NK = 2 * tp_NK / (n_fired + c_NK.double().sum(0))
    best = f1_NK.argmax(0)
    sorted_NK = scores_NK.gather(0, order)
    above = sorted_NK[best, torch.arange(scores_NK.shape[1])]
    below = sorted_NK[(best + 1).clamp_max(len(scores_NK) - 1), torch.arange(scores_NK.shape[1])]
    return (above + below) / 2


def fisher_detectors(x_ND: torch.Tensor, c_NK: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The ideal dictionary's detectors on centred float64 rows `x_ND` with concept labels `c_NK`: per
    concept Fisher's discriminant w = (Sigma + ridge) ^ -1 (mean(x | concept) - mean(x | not concept)) and
    the threshold that maximises F1 on those rows."""
    c = c_NK.double()
    pos_KD = (c.T @ x_ND) / c.sum(0).clamp_min(1)[:, None]
    neg_KD = ((1 - c).T @ x_ND) / (1 - c).sum(0).clamp_min(1)[:, None]
    cov_DD = x_ND.T @ x_ND / len(x_ND)
    ridge_DD = RIDGE * cov_DD.diagonal().mean() * torch.eye(len(cov_DD), dtype=torch.float64)
    W_KD = torch.linalg.solve(cov_DD + ridge_DD, (pos_KD - neg_KD).T).T
    return W_KD, best_f1_thresholds(x_ND @ W_KD.T, c_NK)


def _fired(scores_NK: torch.Tensor, thresholds_K: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    rows, cols = torch.nonzero(scores_NK > thresholds_K, as_tuple=True)
    return rows.numpy(), cols.numpy()


def reference_records(train: ActivationStore, heldout: ActivationStore, documents: str | Path, d_sae: int,
                      target_l0: float, threshold: float, train_tokens: int, seed: int = 0) -> dict:
    """concepts_reference.json: the concept check of the ideal and the random dictionary."""
    t_index, h_index = StoreIndex.read(train, limit=train_tokens), StoreIndex.read(heldout)
    labels = TokenLabels.from_corpus(documents, np.concatenate([t_index.doc, h_index.doc]))
    names, c_h = concept_matrix(labels.row_concepts(h_index, np.arange(len(h_index)), tokens=True))
    c_t = torch.from_numpy(presence(labels.row_concepts(t_index, np.arange(len(t_index)), tokens=True), names))
    x_t = torch.from_numpy(train.read_all(limit=len(t_index))).double()
    x_h = torch.from_numpy(heldout.read_all(limit=len(h_index))).double()
    mean_D = x_t.mean(0)
    x_t, x_h = x_t - mean_D, x_h - mean_D

    W_KD, thresholds = fisher_detectors(x_t, c_t)
    ideal = concept_f1(names, c_h, *_fired(x_h @ W_KD.T, thresholds), len(names), threshold)

    gen = torch.Generator().manual_seed(seed)
    R_FD = torch.randn(d_sae, x_t.shape[1], generator=gen, dtype=torch.float64)
    R_FD /= R_FD.norm(dim=1, keepdim=True)
    scores_t = x_t @ R_FD.T
    k = max(1, int(round(len(x_t) * (1 - target_l0 / d_sae))))
    fire_at = scores_t.kthvalue(k, dim=0).values
    random = concept_f1(names, c_h, *_fired(x_h @ R_FD.T, fire_at), d_sae, threshold)
    return {"ideal": ideal, "random": random, "train_tokens": len(t_index), "heldout_tokens": len(h_index),
            "d_sae": d_sae, "target_l0": target_l0, "seed": seed}
