"""The synthetic convergence study (beyond arXiv 2602.14111, which gives no training budget for its toy runs):
recovery (Eq. 6) and explained variance (Eq. 5) of one SAE at every checkpoint of its training, so that the
budget a result needs can be read off a curve instead of guessed."""

from __future__ import annotations

from pathlib import Path

from saesanity.checkpoints import CHECKPOINTS
from saesanity.data.store import ActivationStore
from saesanity.data.synthetic import read_features
from saesanity.evals.core import evaluate_core
from saesanity.evals.recovery import RECOVERY_THRESHOLD, max_cosine
from saesanity.evals.consistency.validation import checkpoint_counts, final_samples
from saesanity.sae.io import load_sae

FREQUENT = 0.01
"""Features firing more often than this are 'frequent' (the paper: only the most frequent are recovered)."""


def convergence_point(sae_dir: Path, heldout: ActivationStore, f_FD, p_F, threshold: float) -> dict:
    sae = load_sae(sae_dir)
    core = evaluate_core(sae, heldout)
    max_cos_F = max_cosine(f_FD, sae.W_dec.detach().numpy())
    recovered_F = max_cos_F >= threshold
    frequent_F = p_F > FREQUENT
    return {"explained_variance": core.explained_variance, "l0": core.l0, "dead_fraction": core.dead_fraction,
            "recovered_count": int(recovered_F.sum()), "recovered_fraction": float(recovered_F.mean()),
            "recovered_frequent": float(recovered_F[frequent_F].mean()) if frequent_F.any() else None,
            "mean_max_cos": float(max_cos_F.mean())}


def convergence_metrics(sae_dir: str | Path, heldout: str | Path, features: str | Path,
                        threshold: float = RECOVERY_THRESHOLD) -> dict:
    """One SAE's curve: a point per checkpoint (checkpoints/<samples>/) and the final SAE."""
    sae_dir = Path(sae_dir)
    store = ActivationStore.open(heldout)
    f_FD, p_F = read_features(features)
    points = [{"samples": c, "final": False,
               **convergence_point(sae_dir / CHECKPOINTS / str(c), store, f_FD, p_F, threshold)}
              for c in sorted(checkpoint_counts(sae_dir))]
    points.append({"samples": final_samples(sae_dir), "final": True,
                   **convergence_point(sae_dir, store, f_FD, p_F, threshold)})
    return {"threshold": threshold, "frequent_p": FREQUENT, "n_frequent": int((p_F > FREQUENT).sum()),
            "n_features": len(f_FD), "points": points}
