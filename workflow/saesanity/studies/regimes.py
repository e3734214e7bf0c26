"""Probing in four regimes: the settings and the training/test draws of Kantamneni et al., "Are Sparse
Autoencoders Useful? A Case Study in Sparse Probing" (arXiv 2502.16681; code: SAE-Probes), adapted to our
data sets.

Tasks: every class of every label set against the rest (a label set with two classes: one task, its first
class in sorted order as positive; the other task is the same with the labels swapped). The regimes:

- scarcity: n training documents, n on a log2 grid (2, 4, ..., 1024), balanced (n // 2 positive, at least
  one of each class);
- imbalance: `imbalance_n_train` documents, round(frac * n) positive (clamped to [1, n - 1]);
- noise: `noise_n_train` balanced documents, exactly round(frac * n) of their labels flipped (the training
  labels only; the test labels are the true ones);
- shift: `shift_n_train` balanced documents whose covariate (the toy world's register, independent of the
  topic and sentiment labels) is A, tested on the test documents whose covariate is B. Not available for a
  data set without the covariate, or for the task that probes the covariate itself.

Test set: one per task, fixed (it depends on the seed and the task only), balanced, and in equal parts from
every covariate value where the data set has one; every training draw comes from the task's other
documents. A draw is a pure function of (seed, data set, task, regime, value, repeat): the baseline job and
every SAE job draw the same documents in separate processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from saesanity.config import _check, from_dict
from saesanity.evals.probing.data import ProbingDataset

REGIMES = ("scarcity", "imbalance", "noise", "shift")
BASELINE_METHODS = ("logreg", "pca", "knn", "mlp", "xgboost")


@dataclass(frozen=True)
class RegimesConfig:
    """studies.regimes: which documents, which settings, which methods."""

    datasets: list[ProbingDataset] = field(default_factory=lambda: [ProbingDataset("toyworld")])
    max_docs: int = 8192
    """Documents per data set the language model runs over (drawn uniformly, seeded, from the labelled ones)."""
    n_test: int = 512
    """Test documents per task (balanced; equal parts per covariate value)."""
    sizes: list[int] = field(default_factory=lambda: [2 ** i for i in range(1, 11)])
    """scarcity: training sizes (arXiv 2502.16681: a log2 grid from 2 to 1024)."""
    imbalance_fractions: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.5, 0.8, 0.9, 0.95])
    imbalance_n_train: int = 256
    noise_fractions: list[float] = field(default_factory=lambda: [0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
    noise_n_train: int = 256
    shift_n_train: int = 256
    covariate: str | None = "register"
    """The label set the shift regime trains on one value of and tests on another; None: no shift regime."""
    regimes: list[str] = field(default_factory=lambda: list(REGIMES))
    methods: list[str] = field(default_factory=lambda: ["logreg", "pca", "knn", "mlp"])
    """Baselines on the mean-pooled activations: logreg, pca, knn, mlp, xgboost (needs xgboost-cpu)."""
    ks: list[int] = field(default_factory=lambda: [16, 128])
    """SAE probes: top-k latents (capped at d_sae), as arXiv 2502.16681 outside its normal setting."""
    repeats: int = 1
    seed: int = 0
    batch_docs: int = 64
    """Documents per forward pass of the language model (prep)."""
    dtype: str = "float16"
    """Storage dtype of the token activations (prep)."""

    def __post_init__(self) -> None:
        for key in ("max_docs", "n_test", "imbalance_n_train", "noise_n_train", "shift_n_train", "batch_docs"):
            _check(getattr(self, key) >= 2, key, f"must be >= 2, got {getattr(self, key)}")
        _check(self.n_test >= 4, "n_test", f"must be >= 4, got {self.n_test}")
        _check(self.repeats >= 1, "repeats", f"must be >= 1, got {self.repeats}")
        _check(bool(self.sizes) and all(isinstance(n, int) and n >= 2 for n in self.sizes), "sizes",
               f"must be integers >= 2, got {self.sizes}")
        for key in ("imbalance_fractions", "noise_fractions"):
            _check(bool(getattr(self, key)), key, "must not be empty")
        _check(all(0 < f < 1 for f in self.imbalance_fractions), "imbalance_fractions",
               f"each must be in (0, 1), got {self.imbalance_fractions}")
        _check(all(0 <= f <= 0.5 for f in self.noise_fractions), "noise_fractions",
               f"each must be in [0, 0.5], got {self.noise_fractions}")
        _check(bool(self.regimes) and set(self.regimes) <= set(REGIMES), "regimes",
               f"must be a non-empty subset of {list(REGIMES)}, got {self.regimes}")
        _check(bool(self.methods) and set(self.methods) <= set(BASELINE_METHODS), "methods",
               f"must be a non-empty subset of {list(BASELINE_METHODS)}, got {self.methods}")
        _check(bool(self.ks) and all(k >= 1 for k in self.ks), "ks", f"must be >= 1, got {self.ks}")
        _check(self.dtype in ("float16", "float32"), "dtype", f"must be float16 or float32, got {self.dtype!r}")
        names = [d.name for d in self.datasets]
        _check(bool(names) and len(names) == len(set(names)), "datasets", f"must be non-empty and unique, got {names}")


def regimes_config(raw: dict, where: str = "studies.regimes") -> RegimesConfig:
    """RegimesConfig from its JSON (the data sets are ProbingDataset entries, as evals.probing.datasets)."""
    return from_dict(RegimesConfig, raw, where)


def stable_hash(text: str) -> int:
    """A seed component from a name (Python's hash() is salted per process)."""
    return int(hashlib.sha256(text.encode()).hexdigest()[:15], 16)


def rng_for(*parts) -> np.random.Generator:
    """A generator seeded by the parts (ints as they are, anything else through stable_hash of its str)."""
    return np.random.default_rng([p if isinstance(p, int) and p >= 0 else stable_hash(str(p)) for p in parts])


@dataclass(frozen=True)
class RegimeTask:
    """One binary task on one data set: its documents (indices into the data set's documents), 0/1 labels,
    and each document's covariate value (None without a covariate)."""

    dataset: str
    task: str
    """'<label set>:<positive class>'."""
    docs: np.ndarray
    y: np.ndarray
    covariate: np.ndarray | None = None

    @property
    def label_set(self) -> str:
        return self.task.split(":", 1)[0]


def build_tasks(dataset: str, labels: dict[str, Sequence[str | None]],
                covariate: str | None = None) -> list[RegimeTask]:
    """The tasks of one data set: every class of a label set with three or more classes against the rest;
    a two-class set once (its first class positive). A task's documents are those with a label in its set
    (and, where the covariate is a label set of the data set and not the task's own, a covariate value)."""
    cov = None
    if covariate is not None and covariate in labels:
        cov = np.array([c if c is not None else "" for c in labels[covariate]], dtype=object)
    tasks = []
    for label_set, values in sorted(labels.items()):
        arr = np.array([v if v is not None else "" for v in values], dtype=object)
        classes = sorted({v for v in values if v is not None})
        if len(classes) < 2:
            continue
        own_cov = cov if cov is not None and label_set != covariate else None
        keep = arr != ""
        if own_cov is not None:
            keep &= own_cov != ""
        docs = np.flatnonzero(keep)
        for positive in classes[:1] if len(classes) == 2 else classes:
            tasks.append(RegimeTask(dataset, f"{label_set}:{positive}", docs, (arr[docs] == positive).astype(np.int8),
                                    None if own_cov is None else own_cov[docs]))
    return tasks


def held_out_positions(task: RegimeTask, n_test: int, seed: int) -> np.ndarray:
    """The task's fixed test set: positions into task.docs, sorted; n_test // 2 per class, split equally
    over the covariate values where there are some (fewer where a cell has fewer documents)."""
    rng = rng_for(seed, task.dataset, task.task, "test")
    cov_values = sorted(set(task.covariate)) if task.covariate is not None else [None]
    per_cell = n_test // (2 * len(cov_values))
    out = []
    for label in (0, 1):
        for value in cov_values:
            cell = np.flatnonzero((task.y == label) & ((task.covariate == value) if value is not None else True))
            out.append(rng.permutation(cell)[:per_cell])
    return np.sort(np.concatenate(out))


@dataclass(frozen=True)
class Setting:
    regime: str
    value: float | int | str
    """scarcity: n; imbalance: positive fraction; noise: flipped fraction; shift: 'A->B'."""


def settings(cfg: RegimesConfig, task: RegimeTask) -> list[Setting]:
    """The task's settings in config order; shift only where the task has a covariate (`shift_unavailable`
    says why not otherwise)."""
    out = []
    for regime in cfg.regimes:
        if regime == "scarcity":
            out += [Setting(regime, int(n)) for n in cfg.sizes]
        elif regime == "imbalance":
            out += [Setting(regime, float(f)) for f in cfg.imbalance_fractions]
        elif regime == "noise":
            out += [Setting(regime, float(f)) for f in cfg.noise_fractions]
        elif regime == "shift" and task.covariate is not None:
            values = sorted(set(task.covariate))
            out += [Setting(regime, f"{a}->{b}") for a in values for b in values if a != b]
    return out


def shift_unavailable(cfg: RegimesConfig, task: RegimeTask, labels: dict) -> str | None:
    """Why the shift regime does not apply to the task (None: it does)."""
    if "shift" not in cfg.regimes or task.covariate is not None:
        return None
    if cfg.covariate is None:
        return "no covariate configured"
    if cfg.covariate not in labels:
        return f"data set {task.dataset!r} has no covariate {cfg.covariate!r}"
    if task.label_set == cfg.covariate:
        return f"the task probes the covariate {cfg.covariate!r} itself"
    return f"covariate {cfg.covariate!r} has fewer than two values"


class NotAvailable(Exception):
    """A setting cannot be drawn (too few documents of a class, a covariate value without documents)."""


@dataclass(frozen=True)
class Draw:
    """One setting's training and test documents (positions into task.docs) and labels."""

    train: np.ndarray
    y_train: np.ndarray
    """The labels the probes see (flipped ones included)."""
    test: np.ndarray
    y_test: np.ndarray
    n_pos: int
    """True positives among the training documents."""
    n_flipped: int


def positive_count(n: int, frac: float) -> int:
    """round(frac * n) clamped to [1, n - 1]: both classes are always present."""
    return min(max(round(frac * n), 1), n - 1)


def _pick(rng: np.random.Generator, pool: np.ndarray, k: int, what: str) -> np.ndarray:
    if k > len(pool):
        raise NotAvailable(f"{what}: {k} wanted, {len(pool)} available")
    return rng.permutation(pool)[:k]


def draw(task: RegimeTask, test: np.ndarray, cfg: RegimesConfig, setting: Setting, repeat: int) -> Draw:
    """The training draw of one setting and repeat, from the task's documents outside `test`."""
    rng = rng_for(cfg.seed, task.dataset, task.task, setting.regime, setting.value, repeat)
    outside = np.ones(len(task.docs), bool)
    outside[test] = False
    test_out = test
    if setting.regime == "scarcity":
        n, n_pos = int(setting.value), int(setting.value) // 2
    elif setting.regime == "imbalance":
        n = cfg.imbalance_n_train
        n_pos = positive_count(n, float(setting.value))
    elif setting.regime == "noise":
        n = cfg.noise_n_train
        n_pos = n // 2
    elif setting.regime == "shift":
        a, b = str(setting.value).split("->")
        if task.covariate is None:
            raise NotAvailable("no covariate")
        outside &= task.covariate == a
        test_out = test[task.covariate[test] == b]
        n = cfg.shift_n_train
        n_pos = n // 2
    else:
        raise ValueError(f"unknown regime {setting.regime!r}")
    n_pos = max(n_pos, 1)
    pos = _pick(rng, np.flatnonzero(outside & (task.y == 1)), n_pos, f"{task.task} positives")
    neg = _pick(rng, np.flatnonzero(outside & (task.y == 0)), n - n_pos, f"{task.task} negatives")
    train = np.sort(np.concatenate([pos, neg]))
    y_true = task.y[train].astype(np.int8)
    y_seen = y_true.copy()
    n_flipped = 0
    if setting.regime == "noise":
        n_flipped = round(float(setting.value) * n)
        flip = rng.permutation(n)[:n_flipped]
        y_seen[flip] = 1 - y_seen[flip]
    y_test = task.y[test_out].astype(np.int8)
    if len(np.unique(y_test)) < 2:
        raise NotAvailable(f"{task.task}: the test documents hold one class only")
    return Draw(train, y_seen, test_out, y_test, int(y_true.sum()), int(n_flipped))
