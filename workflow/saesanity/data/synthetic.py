"""Synthetic ground truth of arXiv 2602.14111, section 3.

x = sum_i a_i f_i with f_i uniform on the unit sphere of R^d, a_i = s_i c_i, s_i ~ Bernoulli(p_i),
c_i ~ LogNormal(mu, sigma). p_i is constant (0.00625) or drawn once per feature from
LogUniform(10^-5.5, 10^-1.2). The 'exactly_k' model is the model organism of arXiv 2505.20254: every sample
has exactly k distinct active features chosen uniformly, with magnitudes |N(0, 1)|.

Sampling is exact but never dense: for each feature the number of rows it fires in is Binomial(n, p_i)
and the rows are a uniform subset, which is the same law as n independent Bernoulli draws; the chunk is
then one sparse-by-dense product. Memory is one chunk, whatever the sample count.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp
from tqdm import tqdm

from saesanity.atomic import atomic_path
from saesanity.config import SyntheticConfig
from saesanity.data.store import ShardWriter, act_column, column_to_numpy

# Independent random streams derived from the one config seed.
_FEATURES, _PROBS, _TRAIN, _HELDOUT = 0, 1, 2, 3


def ground_truth_directions(cfg: SyntheticConfig) -> np.ndarray:
    """[n_features, d] unit vectors, uniform on the sphere (normalised Gaussians)."""
    g = np.random.default_rng([cfg.seed, _FEATURES]).standard_normal((cfg.n_features, cfg.d))
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)


def firing_probabilities(cfg: SyntheticConfig) -> np.ndarray:
    pm = cfg.probability
    if pm.kind == "constant":
        return np.full(cfg.n_features, pm.p)
    if pm.kind == "exactly_k":
        return np.full(cfg.n_features, pm.k / cfg.n_features)
    u = np.random.default_rng([cfg.seed, _PROBS]).uniform(pm.log10_p_min, pm.log10_p_max, cfg.n_features)
    return 10.0 ** u


def sample_codes(rng: np.random.Generator, n: int, p_F: np.ndarray, mu: float, sigma: float) -> sp.csr_matrix:
    """Sparse [n, F] coefficients a = s * c, s ~ Bernoulli(p), c ~ LogNormal(mu, sigma)."""
    counts_F = rng.binomial(n, p_F)
    rows = np.concatenate([rng.choice(n, size=k, replace=False) for k in counts_F]) if n else np.empty(0, int)
    cols = np.repeat(np.arange(len(p_F)), counts_F)
    vals = rng.lognormal(mu, sigma, size=len(rows))
    return sp.csr_matrix((vals, (rows, cols)), shape=(n, len(p_F)))


def sample_exactly_k(rng: np.random.Generator, n: int, n_features: int, k: int) -> sp.csr_matrix:
    """Sparse [n, F] coefficients with exactly k distinct active features per row, chosen uniformly,
    magnitudes |N(0, 1)| (arXiv 2505.20254's model organism)."""
    cols_NK = rng.integers(0, n_features, (n, k))
    while True:  # redraw the rows with a repeated feature (rare when k << F); uniform over k-subsets
        s = np.sort(cols_NK, axis=1)
        bad = np.flatnonzero((s[:, 1:] == s[:, :-1]).any(1))
        if not len(bad):
            break
        cols_NK[bad] = rng.integers(0, n_features, (len(bad), k))
    vals = np.abs(rng.standard_normal(n * k))
    return sp.csr_matrix((vals, (np.repeat(np.arange(n), k), cols_NK.ravel())), shape=(n, n_features))


def sample_activations(rng: np.random.Generator, n: int, f_FD: np.ndarray, p_F: np.ndarray,
                       cfg: SyntheticConfig) -> np.ndarray:
    if cfg.probability.kind == "exactly_k":
        a_NF = sample_exactly_k(rng, n, len(f_FD), cfg.probability.k)
    else:
        a_NF = sample_codes(rng, n, p_F, cfg.lognormal_mu, cfg.lognormal_sigma)
    return np.asarray(a_NF @ f_FD.astype(np.float64), dtype=np.float32)


SETTINGS_KEY = b"saesanity.synthetic"


def write_features(path: Path, f_FD: np.ndarray, p_F: np.ndarray, cfg: SyntheticConfig) -> None:
    """features.parquet; its schema metadata records the generator's config, so that downstream steps
    know the setting (e.g. whether it is the paper's) without another input."""
    table = pa.table({"feature": pa.array(np.arange(len(f_FD)), pa.int64()),
                      "p": pa.array(p_F, pa.float64()),
                      "direction": act_column(f_FD.astype(np.float32))})
    table = table.replace_schema_metadata({SETTINGS_KEY: json.dumps(dataclasses.asdict(cfg), sort_keys=True)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_settings(path: str | Path) -> dict:
    """The SyntheticConfig (as a dict) that generated features.parquet."""
    meta = pq.read_schema(path).metadata or {}
    if SETTINGS_KEY not in meta:
        raise ValueError(f"{path}: no generator settings in the Parquet metadata; regenerate it")
    return json.loads(meta[SETTINGS_KEY])


def read_features(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(directions [F, d] float32, probabilities [F]) from features.parquet."""
    table = pq.read_table(path)
    for col in ("feature", "p", "direction"):
        if col not in table.column_names:
            raise ValueError(f"{path}: missing column '{col}'")
    d = table.schema.field("direction").type.list_size
    order = np.argsort(table.column("feature").to_numpy())
    return column_to_numpy(table.column("direction"), d)[order], table.column("p").to_numpy()[order]


def write_stream(folder: Path, cfg: SyntheticConfig, stream: int, n: int, f_FD: np.ndarray,
                 p_F: np.ndarray, desc: str) -> None:
    meta = {"source": "synthetic", "probability": cfg.probability.kind, "seed": cfg.seed, "stream": desc}
    with atomic_path(folder) as tmp:
        writer = ShardWriter(tmp, cfg.d, cfg.dtype, meta)
        n_chunks = -(-n // cfg.shard_size)
        for chunk in tqdm(range(n_chunks), desc=desc, mininterval=5):
            rows = min(cfg.shard_size, n - chunk * cfg.shard_size)
            rng = np.random.default_rng([cfg.seed, stream, chunk])
            writer.write(sample_activations(rng, rows, f_FD, p_F, cfg))
        writer.close()


def generate(cfg: SyntheticConfig, out_dir: str | Path) -> None:
    """Writes features.parquet, activations/ (training) and heldout/ (evaluation) under `out_dir`."""
    out_dir = Path(out_dir)
    f_FD, p_F = ground_truth_directions(cfg), firing_probabilities(cfg)
    write_stream(out_dir / "activations", cfg, _TRAIN, cfg.n_samples, f_FD, p_F, "train")
    write_stream(out_dir / "heldout", cfg, _HELDOUT, cfg.n_heldout, f_FD, p_F, "heldout")
    # Written last: the rule lists all three outputs, and this one completes the set.
    write_features(out_dir / "features.parquet", f_FD, p_F, cfg)
