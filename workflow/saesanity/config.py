"""Typed configs for every stage.

The Snakemake config (config.yaml, validated by workflow/schemas/config.schema.yaml) is the user's view;
each rule hands its job only the slice it depends on, as JSON, and the CLI turns that into one of these
dataclasses. Unknown keys are an error that names the key, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """A config value is missing, unknown or out of range; the message names the key."""


def from_dict(cls: type[T], data: dict[str, Any], where: str = "") -> T:
    """Builds dataclass `cls` from `data`, rejecting unknown keys and recursing, by each field's type hint, into
    dataclass fields, optional ones (`X | None`) and lists or tuples of dataclasses; `where` prefixes the key in
    every error (the config block or spec it came from)."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or cls.__name__}: expected a mapping, got {type(data).__name__}")
    names = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{where or cls.__name__}: unknown key(s) {unknown}; known: {sorted(names)}")
    hints = _type_hints(cls)
    kwargs = {key: _build(hints[key], value, f"{where}.{key}" if where else key) for key, value in data.items()}
    try:
        return cls(**kwargs)
    except ConfigError as err:  # a range check in __post_init__: prefix the path of this block
        raise ConfigError(f"{where}.{err}" if where else str(err)) from None
    except TypeError as err:  # a required key is missing, or a value of the wrong type
        raise ConfigError(f"{where or cls.__name__}: {err}") from None


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _build(hint: Any, value: Any, where: str) -> Any:
    """`value` as the field typed `hint` holds it: a dataclass from a mapping, inside `X | None`, list[X] and
    tuple[X, ...] too; anything else as it is (the dataclass's own checks judge it)."""
    if dataclasses.is_dataclass(hint):
        return value if isinstance(value, hint) else from_dict(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType) and value is not None:
        inner = [a for a in args if a is not type(None)]
        return _build(inner[0], value, where) if len(inner) == 1 else value
    if origin in (list, tuple) and args and dataclasses.is_dataclass(args[0]):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__}")
        return origin(from_dict(args[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    return value


def to_json(obj: Any) -> str:
    """Canonical JSON of a dataclass (sorted keys): the bytes that go into cfg.json and rule params."""
    return json.dumps(dataclasses.asdict(obj), sort_keys=True)


def _check(cond: bool, key: str, msg: str) -> None:
    if not cond:
        raise ConfigError(f"{key}: {msg}")


PROBABILITY_KINDS = ("constant", "variable", "exactly_k")


@dataclass(frozen=True)
class ProbabilityModel:
    """How often each ground-truth feature fires (arXiv 2602.14111, section 3)."""

    kind: str
    """'constant': every feature fires with probability `p`; 'variable': p_i ~ LogUniform(10^lo, 10^hi);
    'exactly_k': every sample has exactly `k` distinct active features, chosen uniformly, with magnitudes
    |N(0, 1)| instead of log-normal ones (the model organism of arXiv 2505.20254)."""
    p: float = 0.00625
    """Firing probability of the constant model (20 of 3200 features active on average)."""
    log10_p_min: float = -5.5
    """Lower end of the variable model's log-uniform range."""
    log10_p_max: float = -1.2
    """Upper end of the variable model's log-uniform range."""
    k: int = 3
    """Active features per sample of the exactly_k model."""

    def __post_init__(self) -> None:
        _check(self.kind in PROBABILITY_KINDS, "kind", f"must be one of {list(PROBABILITY_KINDS)}, got {self.kind!r}")
        _check(self.k >= 1, "k", f"must be >= 1, got {self.k}")
        _check(0 < self.p <= 1, "p", f"must be in (0, 1], got {self.p}")
        _check(self.log10_p_min < self.log10_p_max <= 0, "log10_p_min/log10_p_max", "need min < max <= 0")


@dataclass(frozen=True)
class SyntheticConfig:
    """The synthetic ground-truth data set of arXiv 2602.14111, section 3."""

    probability: ProbabilityModel
    d: int = 100
    """Dimension of the activations."""
    n_features: int = 3200
    """Number of ground-truth features, uniform on the unit sphere."""
    lognormal_mu: float = 0.0
    """Coefficient magnitudes c_i ~ LogNormal(mu, sigma)."""
    lognormal_sigma: float = 0.25
    n_samples: int = 1_000_000
    """Training samples written as activation shards."""
    n_heldout: int = 65_536
    """Held-out samples for evaluation, drawn from a separate stream."""
    shard_size: int = 131_072
    """Rows per Parquet shard (the generator holds one chunk of this size in memory at a time)."""
    seed: int = 0
    dtype: str = "float32"
    """Storage dtype of `act`: float32 or float16."""

    def __post_init__(self) -> None:
        for key in ("d", "n_features", "n_samples", "n_heldout", "shard_size"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.lognormal_sigma >= 0, "lognormal_sigma", "must be >= 0")
        _check(self.dtype in ("float32", "float16"), "dtype", f"must be float32 or float16, got {self.dtype!r}")
        _check(self.probability.k <= self.n_features, "probability.k", f"exceeds n_features ({self.n_features})")


UNTRAINED = "untrained"
"""The sanity check's negative control (saesanity.sanity.verdict): the shared init, calibrated to the target L0,
no training step taken."""
CONCEPT_DICTIONARY = "concept_dictionary"
"""The sanity check's positive control on the toy world (saesanity.sanity.concept_dictionary): one JumpReLU
latent per known concept, built from the world's labels, never trained by gradient."""
TRAINED_CONTROL = "trained_control"
"""The sanity check's positive control on reconstruction, on any model (saesanity.sanity.verdict): the pipeline's
own SAE of the checked SAE's architecture, width and L0, trained like "trained" until its held-out curve
flattens (saesanity.train_ladder); judged only where it got there."""
VARIANTS = (
    "trained",
    "frozen_decoder-iso",
    "frozen_decoder-cov",
    "frozen_encoder-iso",
    "frozen_encoder-cov",
    "soft_frozen_decoder-iso",
    "soft_frozen_decoder-cov",
    # Ceilings on synthetic data, whose true dictionary is known (saes.synthetic.ceilings).
    "frozen_decoder-truth",
    "frozen_both-truth",
    UNTRAINED,
    CONCEPT_DICTIONARY,
    TRAINED_CONTROL,
)
CEILINGS = ("frozen_decoder-truth", "frozen_both-truth")


@dataclass(frozen=True)
class SAEConfig:
    """One SAE: architecture, variant, sizes, and the architecture's own options."""

    arch: str
    """relu, topk, batchtopk or jumprelu (saesanity.sae.registry)."""
    d_in: int
    d_sae: int
    target_l0: float
    """k for TopK/BatchTopK; the L0 the sparsity controller steers ReLU and JumpReLU to."""
    variant: str = "trained"
    """trained, frozen_decoder-{iso,cov}, frozen_encoder-{iso,cov}, soft_frozen_decoder-{iso,cov}; on
    synthetic data the ceilings frozen_decoder-truth (the true dictionary as decoder, encoder trained) and
    frozen_both-truth (the true dictionary as decoder and, transposed, as encoder; biases and thresholds
    trained); untrained (the shared init calibrated to target_l0, no step taken: the sanity check's negative
    control); concept_dictionary (the toy world's known concepts as JumpReLU latents: its positive control);
    trained_control (trained like trained, to convergence: its positive control on reconstruction)."""
    seed: int = 0
    """Initialisation and data-order seed; shared by every variant of one comparison."""
    soft_frozen_tau: float = 0.8
    """Soft-Frozen Decoder: each decoder row keeps cosine >= tau with its initial direction."""
    options: dict[str, Any] = field(default_factory=dict)
    """Architecture options; checked against the architecture's Options dataclass."""
    init_seed: int | None = None
    """Seed of the initial dictionary when it differs from `seed` (which then sets the data order only):
    random baselines that share their init across seeds (saes.<group>.baseline_init: shared)."""

    def __post_init__(self) -> None:
        _check(self.variant in VARIANTS, "variant", f"must be one of {list(VARIANTS)}, got {self.variant!r}")
        _check(self.d_in > 0 and self.d_sae > 0, "d_in/d_sae", "must be positive")
        _check(0 < self.target_l0 <= self.d_sae, "target_l0", f"must be in (0, d_sae], got {self.target_l0}")
        _check(0 < self.soft_frozen_tau < 1, "soft_frozen_tau", "must be in (0, 1)")

    @property
    def variant_kind(self) -> str:
        return self.variant.split("-")[0]

    @property
    def init(self) -> str:
        """'iso' or 'cov': the random initialisation of arXiv 2602.14111, section 4; 'truth': the known
        dictionary of a synthetic data set."""
        return self.variant.split("-")[1] if "-" in self.variant else "iso"


@dataclass(frozen=True)
class TrainConfig:
    """The optimiser and the data stream (arXiv 2602.14111 uses AdamW, lr 2e-4, batch 4096)."""

    n_samples: int = 1_000_000
    """Training samples seen in total (the stream loops over the shards when it runs out)."""
    batch_size: int = 4096
    lr: float = 2e-4
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    lr_warmup_samples: int = 0
    lr_decay_fraction: float = 0.2
    """Last fraction of training with the learning rate decayed linearly to zero."""
    decoder_lr_scale: float = 1.0
    """The decoder's learning rate is lr times this (an axis of the synthetic convergence study)."""
    normalize_activations: bool = True
    """Train on activations times a fixed scale that makes E||x||^2 = d on the stats sample (SAELens's
    `expected_average_only_in`, arXiv 2407.14435 sec. 5), so learning rates, thresholds and JumpReLU's
    bandwidth mean the same on every model; the scale is folded into the saved weights, which take raw
    activations."""
    shuffle_buffer: int = 65_536
    """Rows held by the seeded shuffle buffer."""
    stats_samples: int = 65_536
    """Rows drawn uniformly from the whole store (seeded) for the data mean (b_dec init), the covariance
    (cov init) and the activation scale; CALIBRATION_ROWS of them calibrate biases and thresholds."""
    log_every: int = 50
    """Steps between rows of train_log.csv."""
    checkpoints: tuple[int, ...] = ()
    """Sample counts at which a copy of the SAE is also saved, into checkpoints/<count>/ beside the final
    one (SAELens layout): training trajectories for PW-MCC against ground truth (arXiv 2505.20254)."""
    curve_points: int = 16
    """Evenly spaced points of train_curve.csv (plus the init and 3/4 of training): held-out EV (Eq. 5) and
    the decoder's cosine to its init; 0 for none. Each reads `curve_rows` held-out rows once (a few % of
    training at the defaults), and needs the held-out store (saesanity.train_curve)."""
    curve_rows: int = 8192
    """The first rows of the held-out store that the curve evaluates on."""
    converged_ev_gain: float = 0.005
    """An SAE counts as converged when its held-out EV moved by less than this (either way) over the last
    quarter of training (`ev_gain_last_quarter` in cfg.json's saesanity_training)."""

    def __post_init__(self) -> None:
        for key in ("n_samples", "batch_size", "shuffle_buffer", "stats_samples", "log_every", "curve_rows"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        object.__setattr__(self, "checkpoints", tuple(sorted(self.checkpoints)))
        _check(all(0 < c < self.n_samples for c in self.checkpoints), "checkpoints",
               f"every count must be in (0, n_samples = {self.n_samples}), got {list(self.checkpoints)}")
        _check(len(set(self.checkpoints)) == len(self.checkpoints), "checkpoints", "counts must be distinct")
        _check(self.lr > 0, "lr", f"must be positive, got {self.lr}")
        _check(self.decoder_lr_scale > 0, "decoder_lr_scale", f"must be positive, got {self.decoder_lr_scale}")
        _check(0 <= self.lr_decay_fraction <= 1, "lr_decay_fraction", "must be in [0, 1]")
        _check(self.curve_points >= 0, "curve_points", f"must be >= 0, got {self.curve_points}")
        _check(self.converged_ev_gain >= 0, "converged_ev_gain", f"must be >= 0, got {self.converged_ev_gain}")
        object.__setattr__(self, "betas", tuple(self.betas))


@dataclass(frozen=True)
class ConsistencyConfig:
    """PW-MCC across seeds (arXiv 2505.20254) and shared latents (arXiv 2501.16615)."""

    exact_max_latents: int = 16_384
    """Largest dictionary matched by the exact Hungarian algorithm; above, the sparse matching with a
    certificate (saesanity.evals.consistency.sparse_matching)."""
    candidates: int = 8
    """Sparse matching: candidates kept per row and per column of the cosine matrix."""
    shared_threshold: float = 0.7
    """A matched latent is shared when its decoder and encoder cosines both exceed this (arXiv 2501.16615)."""
    histogram_bins: int = 40
    """Bins over [-1, 1] of the matched-cosine histogram."""

    def __post_init__(self) -> None:
        for key in ("exact_max_latents", "candidates", "histogram_bins"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(-1 <= self.shared_threshold <= 1, "shared_threshold", "must be in [-1, 1]")


@dataclass(frozen=True)
class TrainJob:
    """Everything one `train` job depends on: exactly what its rule passes as params."""

    sae: SAEConfig
    train: TrainConfig
    until_converged: int = 0
    """N > 0: retrain from scratch at twice the budget while the held-out curve has not flattened, at most N
    times (saesanity.train_ladder; config studies.until_converged for the width family)."""
