"""The probes of arXiv 2502.16681 (Kantamneni et al., SAE-Probes `utils_training.py` and `run_sae_evals.py`):
each fits on one training draw, picks its hyperparameter by cross-validated ROC-AUC on the training
documents, and reports that validation AUC and the test ROC-AUC of the refit (`auc`: the value of sklearn's
roc_auc_score).

Validation, as SAE-Probes' `get_cv`: n <= 3 none (the default hyperparameter; the validation AUC is the
training AUC); n <= 12 leave-two-out; n < 128 six stratified folds; larger n one stratified hold-out of
min(20 %, 100) documents. Only folds with both classes in their training and validation parts count (a
fold with one class has no AUC); where none is left the no-validation rule applies.

Baselines on the mean-pooled activations:
- logreg: L2 logistic regression on the raw features, C from logspace(5, -5, 10) (SAE-Probes' grid); C = 1
  (sklearn's default) where n <= 3;
- pca: standardised, PCA (at most min(n, d, 100) components, fitted once on the training rows as
  SAE-Probes does), then logistic regression (C = 1) on the first m components, m from a log2 grid;
- knn: standardised, k nearest neighbours, k from a log2 grid up to min(n - 1, 100, smallest fold);
- mlp: standardised, sklearn's MLPClassifier with the one configuration SAE-Probes' seeded draw gives
  (hidden (16, 16, 16), learning rate 10^-2.5, alpha 0.01, adam, max_iter 1000);
- xgboost: standardised, a seeded random search over SAE-Probes' space (needs the xgboost-cpu package).
SAE probes: the k latents with the largest |class-mean difference| of the mean-pooled latents after
dividing each latent by its mean non-zero value on the training documents (SAE-Probes'
`get_sorted_indices_new`), then `logreg` on those k latents (raw values).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence

import numpy as np

C_GRID = tuple(float(c) for c in np.logspace(5, -5, 10))
DEFAULT_C = 1.0
MAX_ITER = 1000
SEED = 42
"""random_state of every fold split and estimator (SAE-Probes uses 42)."""
MLP_CONFIG = {"hidden_layer_sizes": (16, 16, 16), "learning_rate_init": 10 ** -2.5, "alpha": 0.01}
XGB_SPACE = {
    "n_estimators": list(range(50, 300, 50)),
    "max_depth": [2, 3, 4, 5],
    "learning_rate": [float(x) for x in np.logspace(-3, -1, 10)],
    "subsample": [float(x) for x in np.linspace(0.7, 1.0, 5)],
    "colsample_bytree": [float(x) for x in np.linspace(0.7, 1.0, 5)],
    "reg_alpha": [float(x) for x in np.logspace(-3, 1, 10)],
    "reg_lambda": [float(x) for x in np.logspace(-3, 1, 10)],
    "min_child_weight": list(range(1, 10)),
}
XGB_CONFIGS = 10
"""Random configurations tried (SAE-Probes: 10)."""

Splits = list[tuple[np.ndarray, np.ndarray]]


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC-AUC of binary labels, the value of sklearn's roc_auc_score (the Mann-Whitney statistic, ties
    counted one half) at a fraction of its cost: its input checks take milliseconds, and the validation
    folds call this thousands of times."""
    from scipy.stats import rankdata
    y = np.asarray(y) == 1
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes")
    ranks = rankdata(np.asarray(score, dtype=np.float64))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def cv_splits(y: np.ndarray) -> Splits | None:
    """Validation folds of SAE-Probes' get_cv, keeping only folds with both classes on both sides; None
    where validation is not possible."""
    from sklearn.model_selection import LeavePOut, StratifiedKFold, StratifiedShuffleSplit
    n = len(y)
    if n <= 3:
        return None
    idx = np.zeros((n, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # a class with fewer members than folds
        if n <= 12:
            raw = list(LeavePOut(2).split(idx))
        elif n < 128:
            raw = list(StratifiedKFold(6, shuffle=True, random_state=SEED).split(idx, y))
        else:
            val = min(int(0.2 * n), 100)
            try:
                raw = list(StratifiedShuffleSplit(1, test_size=val, random_state=SEED).split(idx, y))
            except ValueError:  # a class with one member cannot be stratified
                perm = np.random.default_rng(SEED).permutation(n)
                raw = [(np.sort(perm[val:]), np.sort(perm[:val]))]
    splits = [(tr, va) for tr, va in raw if len(np.unique(y[tr])) == 2 and len(np.unique(y[va])) == 2]
    return splits or None


def _select(candidates: Sequence, make: Callable, x: np.ndarray, y: np.ndarray, x_test: np.ndarray,
            y_test: np.ndarray, splits: Splits | None, default) -> dict:
    """Each candidate's mean validation AUC over the folds; the first best refit on all training rows."""
    from sklearn.exceptions import ConvergenceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if splits is None:
            model = make(default).fit(x, y)
            return {"val_auc": auc(y, model.predict_proba(x)[:, 1]),
                    "test_auc": auc(y_test, model.predict_proba(x_test)[:, 1]), "param": _plain(default)}
        scores = [float(np.mean([auc(y[va], make(c).fit(x[tr], y[tr]).predict_proba(x[va])[:, 1])
                                 for tr, va in splits])) for c in candidates]
        best = int(np.argmax(scores))
        model = make(candidates[best]).fit(x, y)
        return {"val_auc": scores[best], "test_auc": auc(y_test, model.predict_proba(x_test)[:, 1]),
                "param": _plain(candidates[best])}


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") else value


def _log2_grid(top: int) -> list[int]:
    top = max(int(top), 1)
    return sorted({int(v) for v in np.logspace(0, np.log2(top), num=10, base=2).astype(int)})


def _standardise(x: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.preprocessing import StandardScaler
    scaler = StandardScaler().fit(x)
    return scaler.transform(x), scaler.transform(x_test)


def logreg(x, y, x_test, y_test, splits):
    from sklearn.linear_model import LogisticRegression
    return _select(C_GRID, lambda c: LogisticRegression(C=c, max_iter=MAX_ITER, random_state=SEED),
                   x, y, x_test, y_test, splits, DEFAULT_C)


def pca(x, y, x_test, y_test, splits):
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    xs, xs_test = _standardise(x, x_test)
    top = min(x.shape[0], x.shape[1], 100)
    fitted = PCA(n_components=top, svd_solver="full").fit(xs)
    z, z_test = fitted.transform(xs), fitted.transform(xs_test)

    class OnFirst:
        """Logistic regression on the first m components."""

        def __init__(self, m):
            self.m, self.lr = m, LogisticRegression(max_iter=MAX_ITER, random_state=SEED)

        def fit(self, a, b):
            self.lr.fit(a[:, :self.m], b)
            return self

        def predict_proba(self, a):
            return self.lr.predict_proba(a[:, :self.m])

    return _select(_log2_grid(top), OnFirst, z, y, z_test, y_test, splits, top)


def knn(x, y, x_test, y_test, splits):
    from sklearn.neighbors import KNeighborsClassifier
    xs, xs_test = _standardise(x, x_test)
    smallest = min((len(tr) for tr, _ in splits or []), default=len(y))
    grid = _log2_grid(min(len(y) - 1, 100, smallest))
    return _select(grid, lambda k: KNeighborsClassifier(n_neighbors=k), xs, y, xs_test, y_test, splits, 1)


def mlp(x, y, x_test, y_test, splits):
    from sklearn.neural_network import MLPClassifier
    xs, xs_test = _standardise(x, x_test)
    return _select([MLP_CONFIG], lambda p: MLPClassifier(max_iter=MAX_ITER, random_state=SEED, **p),
                   xs, y, xs_test, y_test, splits, MLP_CONFIG)


def xgboost(x, y, x_test, y_test, splits):
    try:
        import xgboost as xgb
    except ImportError as err:
        raise ImportError("method 'xgboost' needs the xgboost-cpu package (pip install xgboost-cpu)") from err
    xs, xs_test = _standardise(x, x_test)
    rng = np.random.default_rng(SEED)
    configs = [{k: v[int(rng.integers(len(v)))] for k, v in XGB_SPACE.items()} for _ in range(XGB_CONFIGS)]
    return _select(configs, lambda p: xgb.XGBClassifier(**p, eval_metric="logloss", n_jobs=1, random_state=SEED),
                   xs, y, xs_test, y_test, splits, {})


BASELINES = {"logreg": logreg, "pca": pca, "knn": knn, "mlp": mlp, "xgboost": xgboost}


def rank_latents(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Latents by |mean over positives - mean over negatives| of the latents divided by their mean non-zero
    value on these (training) documents, largest first, ties by index (SAE-Probes' get_sorted_indices_new)."""
    z = z.astype(np.float64)
    nonzero_mean = z.sum(0) / ((z != 0).sum(0) + 1e-6)
    zn = z / (nonzero_mean + 1e-6)
    diff = np.abs(zn[y == 1].mean(0) - zn[y == 0].mean(0))
    return np.argsort(-diff, kind="stable")


def sae_probe(z: np.ndarray, y: np.ndarray, z_test: np.ndarray, y_test: np.ndarray, k: int,
              splits: Splits | None) -> dict:
    """logreg on the top-k latents ranked on the training documents; the chosen latents in 'latents'."""
    top = np.sort(rank_latents(z, y)[:k])
    return {**logreg(z[:, top].astype(np.float64), y, z_test[:, top].astype(np.float64), y_test, splits),
            "latents": top.tolist()}


def sae_ks(ks: Sequence[int], d_sae: int) -> list[int]:
    """The configured ks capped at d_sae, without repeats, in order."""
    out: list[int] = []
    for k in ks:
        if min(k, d_sae) not in out:
            out.append(min(k, d_sae))
    return out
