"""PW-MCC against ground-truth MCC over training (arXiv 2505.20254): for one group of seeds (same data,
architecture and dictionary size), at every checkpoint saved by all seeds and at the end, the ground-truth
MCC of each seed's decoder and the PW-MCC across seeds. If PW-MCC is a usable proxy for ground truth, the
two move together."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from saesanity.config import ConsistencyConfig
from saesanity.data.synthetic import read_features
from saesanity.evals.consistency.mcc import mcc, pairwise_mcc
from saesanity.evals.identity import sae_identity
from saesanity.sae.io import load_sae
from saesanity.sae.layout import CHECKPOINTS, TRAIN_LOG


def checkpoint_counts(sae_dir: Path) -> set[int]:
    folder = sae_dir / CHECKPOINTS
    return {int(p.name) for p in folder.iterdir() if p.name.isdigit()} if folder.is_dir() else set()


def final_samples(sae_dir: Path) -> int:
    """Samples seen by the final SAE: the last row of its train_log.csv."""
    return int(pd.read_csv(sae_dir / TRAIN_LOG)["samples"].iloc[-1])


def validation_point(folders: Sequence[Path], f_FD: np.ndarray, cfg: ConsistencyConfig) -> dict:
    decoders = [load_sae(f).W_dec.detach().numpy() for f in folders]
    kw = {"exact_max_latents": cfg.exact_max_latents, "candidates": cfg.candidates}
    gt = [mcc(f_FD, W, **kw).mcc for W in decoders]
    pw, pairs = pairwise_mcc(decoders, **kw)
    return {"gt_mcc": float(np.mean(gt)), "gt_mcc_seeds": gt,
            "gt_mcc_std": float(np.std(gt, ddof=1)) if len(gt) > 1 else 0.0,
            "pw_mcc": pw, "pair_mcc": [m.mcc for m in pairs],
            "pw_mcc_std": float(np.std([m.mcc for m in pairs], ddof=1)) if len(pairs) > 1 else 0.0}


def validation_metrics(sae_dirs: Sequence[str | Path], features: str | Path,
                       cfg: ConsistencyConfig = ConsistencyConfig()) -> dict:
    dirs = [Path(d) for d in sae_dirs]
    ids = [sae_identity(d) for d in dirs]
    group = {(i["source"], i["arch"], i["variant"], i["d_sae"]) for i in ids}
    if len(group) != 1 or len(dirs) < 2:
        raise ValueError(f"validation compares at least two seeds of one SAE configuration; got {sorted(group)}")
    f_FD = read_features(features)[0]
    counts = sorted(set.intersection(*[checkpoint_counts(d) for d in dirs]))
    points = [{"samples": c, "final": False,
               **validation_point([d / CHECKPOINTS / str(c) for d in dirs], f_FD, cfg)} for c in counts]
    points.append({"samples": final_samples(dirs[0]), "final": True, **validation_point(dirs, f_FD, cfg)})
    first = ids[0]
    return {"source": first["source"], "arch": first["arch"], "variant": first["variant"],
            "d_sae": first["d_sae"], "target_l0": first["target_l0"], "n_features": len(f_FD),
            "seeds": [i["seed"] for i in ids], "points": points}
