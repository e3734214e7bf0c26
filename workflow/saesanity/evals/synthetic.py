"""Per-SAE and per-group evaluations of the synthetic experiment, as JSON-ready dicts."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from saesanity.data.store import ActivationStore
from saesanity.data.synthetic import read_features
from saesanity.evals.consistency import mcc, pairwise_mcc
from saesanity.evals.core import evaluate_core
from saesanity.evals.recovery import RECOVERY_THRESHOLD, max_cosine, recovered_fraction
from saesanity.sae.io import CFG, load_sae


def sae_identity(folder: str | Path) -> dict:
    """source, arch, variant, seed and target L0 of a saved SAE, from its cfg.json."""
    raw = json.loads((Path(folder) / CFG).read_text())
    ours = raw["saesanity"]
    return {"source": raw["metadata"].get("source", ""), "arch": ours["arch"], "variant": ours["variant"],
            "seed": ours["seed"], "target_l0": ours["target_l0"], "d_sae": ours["d_sae"]}


def core_metrics(sae_dir: str | Path, heldout: str | Path) -> dict:
    sae = load_sae(sae_dir)
    metrics = evaluate_core(sae, ActivationStore.open(heldout))
    return {**sae_identity(sae_dir), **dataclasses.asdict(metrics)}


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


def consistency_metrics(sae_dirs: Sequence[str | Path]) -> dict:
    """PW-MCC of the decoders of independently seeded SAEs (arXiv 2505.20254)."""
    ids = [sae_identity(d) for d in sae_dirs]
    group = {(i["source"], i["arch"], i["variant"], i["d_sae"]) for i in ids}
    if len(group) != 1:
        raise ValueError(f"PW-MCC compares seeds of one SAE configuration; got {sorted(group)}")
    seeds = [i["seed"] for i in ids]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"PW-MCC needs distinct seeds; got {seeds}")
    decoders = [load_sae(d).W_dec.detach().numpy() for d in sae_dirs]
    pw, pairs = pairwise_mcc(decoders)
    first = ids[0]
    return {"source": first["source"], "arch": first["arch"], "variant": first["variant"],
            "seeds": seeds, "pw_mcc": pw, "pair_mcc": pairs,
            "pw_mcc_std": float(np.std(pairs, ddof=1)) if len(pairs) > 1 else 0.0}
