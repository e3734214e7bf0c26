"""Consistency of independently seeded SAEs of one configuration, on any source (synthetic or a language
model's activations): PW-MCC of the decoders (arXiv 2505.20254), the shared-latent fraction (arXiv
2501.16615: decoder and encoder cosine both > 0.7 after matching) and the distribution of matched cosines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from saesanity.config import ConsistencyConfig
from saesanity.evals.consistency.mcc import pairwise_mcc, shared_fraction
from saesanity.evals.identity import sae_identity
from saesanity.sae.io import load_sae


def init_sharing(init_seeds: Sequence[int]) -> str:
    """'shared' when every run started from the same random dictionary, else 'per_seed'. With a shared init
    a frozen-decoder baseline has PW-MCC 1 by construction: PW-MCC then measures only what training moved."""
    return "shared" if len(set(init_seeds)) == 1 else "per_seed"


def consistency_metrics(sae_dirs: Sequence[str | Path], cfg: ConsistencyConfig = ConsistencyConfig()) -> dict:
    """The consistency record of one group of seeds (one JSON per source, architecture and variant)."""
    ids = [sae_identity(d) for d in sae_dirs]
    group = {(i["source"], i["arch"], i["variant"], i["d_sae"]) for i in ids}
    if len(group) != 1:
        raise ValueError(f"PW-MCC compares seeds of one SAE configuration; got {sorted(group)}")
    seeds = [i["seed"] for i in ids]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"PW-MCC needs distinct seeds; got {seeds}")
    saes = [load_sae(d) for d in sae_dirs]
    decoders = [s.W_dec.detach().numpy() for s in saes]
    encoders = [s.W_enc.detach().numpy().T for s in saes]  # one row per latent
    pw, matchings = pairwise_mcc(decoders, exact_max_latents=cfg.exact_max_latents, candidates=cfg.candidates)
    pair_index = [(a, b) for a in range(len(saes)) for b in range(a + 1, len(saes))]
    shared = [shared_fraction(m, encoders[a], encoders[b], cfg.shared_threshold)
              for m, (a, b) in zip(matchings, pair_index)]
    edges = np.linspace(-1.0, 1.0, cfg.histogram_bins + 1)
    counts = sum(np.histogram(np.clip(m.cosines, -1, 1), bins=edges)[0] for m in matchings)
    pair_mcc = [m.mcc for m in matchings]
    first = ids[0]
    return {"source": first["source"], "arch": first["arch"], "variant": first["variant"],
            "d_sae": first["d_sae"], "seeds": seeds, "init": init_sharing([i["init_seed"] for i in ids]),
            "pw_mcc": pw, "pair_mcc": pair_mcc,
            "pw_mcc_std": float(np.std(pair_mcc, ddof=1)) if len(pair_mcc) > 1 else 0.0,
            "method": sorted({m.method for m in matchings}),
            "pair_upper_bound": [m.upper_bound for m in matchings],
            "max_gap": max(m.gap for m in matchings),
            "shared_threshold": cfg.shared_threshold,
            "shared_fraction": float(np.mean(shared)), "pair_shared_fraction": shared,
            "matched_cos_hist": {"edges": [round(float(e), 6) for e in edges],
                                 "counts": [int(c) for c in counts]}}
