"""Per-SAE and per-group evaluations of the synthetic experiment, as JSON-ready dicts."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from saesanity.data.store import ActivationStore
from saesanity.data.synthetic import read_features
from saesanity.evals.consistency.mcc import mcc
from saesanity.evals.core import evaluate_core
from saesanity.evals.identity import sae_identity
from saesanity.evals.l0_match import L0Match, check_l0
from saesanity.evals.recovery import RECOVERY_THRESHOLD, max_cosine, recovered_fraction
from saesanity.sae.io import load_sae, read_training


def core_metrics(sae_dir: str | Path, heldout: str | Path, match: L0Match = L0Match()) -> dict:
    """EV, L0 and dead fraction on held-out data, the L0 check (raises L0Mismatch on a miss) and what
    cfg.json records of the SAE's training (activation scale, Soft-Frozen cone, distance from its init)."""
    sae = load_sae(sae_dir)
    metrics = evaluate_core(sae, ActivationStore.open(heldout))
    l0 = check_l0(str(sae_dir), metrics.l0, sae.cfg.target_l0, match)
    return {**sae_identity(sae_dir), **dataclasses.asdict(metrics), **l0, **read_training(sae_dir)}


def recovery_metrics(sae_dir: str | Path, features: str | Path, threshold: float = RECOVERY_THRESHOLD) -> dict:
    """Eq. 6 of arXiv 2602.14111 per true feature, and ground-truth MCC (arXiv 2505.20254)."""
    f_FD, p_F = read_features(features)
    W_dec_FD = load_sae(sae_dir).W_dec.detach().numpy()
    max_cos_F = max_cosine(f_FD, W_dec_FD)
    return {**sae_identity(sae_dir), "threshold": threshold, "n_features": len(f_FD),
            "recovered_fraction": recovered_fraction(max_cos_F, threshold),
            "recovered_count": int((max_cos_F >= threshold).sum()),
            "gt_mcc": mcc(f_FD, W_dec_FD).mcc,
            "max_cos": [round(float(c), 6) for c in max_cos_F]}
