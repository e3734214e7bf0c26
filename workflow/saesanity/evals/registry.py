"""The per-SAE evaluations of a language-model SAE that table2.csv, its figures and the sanity verdict read, in
one place: each evaluation's file (results/metrics/<sae>/<name>.json), when the build runs it, and its metrics
(the key in the file, the name in the tables, the label, the maximum for the saturation mark, and how the sanity
verdict judges it). A metric added here reaches table2.csv, the Table 2 figure, the saturation mark and (where
`judged`) the verdict; the paper's numbers stay in saesanity.paper, by metric name. docs/extending.md has the
recipes. No import beyond the standard library: the Snakefile reads it while building the DAG."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    key: str
    """Where the value sits in <evaluation>.json (dots for nested keys)."""
    name: str
    """The `metric` column of table2.csv and verdict.csv."""
    label: str | None = None
    """Its panel in the Table 2 figure and its row in the verdict; None: a column of the table only."""
    maximum: float | None = None
    """Its best score, where it has one: a metric on which the trained SAE and every baseline sit within
    tables.saturation.SATURATION_TOLERANCE of it is marked saturated."""
    judged: bool = False
    """The sanity verdict compares the SAE with its baselines on it (higher is better)."""
    positive: bool = True
    """Where judged: the positive control (toy world: the concepts as a dictionary) must beat the baselines here:
    the metric scores latents against concepts the toy world labels. Not on reconstruction (the concept
    dictionary runs at its concepts' L0, about 1.5, not the SAE's), nor on RAVEL: the labels at an entity's token
    name the entity, not its attributes, so no latent of the concept dictionary moves one attribute alone
    (measured on the default toy world: cause 0.000 for every attribute, the edit changes nothing)."""
    trained: bool = False
    """Where judged: the trained control, where it converged, is expected to beat the baselines here:
    reconstruction, what its training optimises (and what CE loss and KL follow)."""
    evaluation: str = ""
    """The evaluation whose file holds it (set by `evaluation`)."""


@dataclass(frozen=True)
class Evaluation:
    name: str
    """Its per-SAE file, <name>.json, and its key in table2.csv's inputs."""
    what: str
    """One line for the CLI's help."""
    metrics: tuple[Metric, ...]
    runs: Callable[[Mapping, bool], bool]
    """Whether the build runs it for a language model, given the config's `evals` block and whether the model
    is the toy world."""


def evaluation(name: str, what: str, runs: Callable[[Mapping, bool], bool], *metrics: Metric) -> Evaluation:
    return Evaluation(name, what, tuple(dataclasses.replace(m, evaluation=name) for m in metrics), runs)


TRAINING = ["tokens_seen", "init_cos_mean", "init_cos_min", "ev_gain_last_quarter", "converged"]
"""How far each SAE trained and where on its held-out curve it stopped (saesanity.train_curve): tokens seen,
the decoder's mean and minimum cosine to its random init, the held-out EV gained over the last quarter of
training and whether that gain is below train.converged_ev_gain (1/0). From cfg.json's saesanity_training,
copied into core.json by eval_core."""


def _always(evals: Mapping, toyworld: bool) -> bool:
    return True


def _configured(name: str) -> Callable[[Mapping, bool], bool]:
    """Where its `evals.<name>` block is in the config."""
    return lambda evals, toyworld: name in evals


def _judge_runs(evals: Mapping, toyworld: bool) -> bool:
    """AutoInterp needs a judge: backend 'none' (the offline default) measures nothing (docs/decisions.md)."""
    return "autointerp" in evals and evals["autointerp"].get("backend") != "none"


def _concepts_run(evals: Mapping, toyworld: bool) -> bool:
    """The ground-truth concept check (settings in evals.autointerp, run by its job) needs the concepts the toy
    world labels: the one model whose concepts are known."""
    return _judge_runs(evals, toyworld) and toyworld


EVALUATIONS: tuple[Evaluation, ...] = (
    # With how far each SAE trained and whether it converged (TRAINING), beside the metrics they qualify.
    evaluation("core", "explained variance, L0 and the training record", _always,
               Metric("explained_variance", "explained_variance", "explained variance (Eq. 5)", 1.0, judged=True,
                      positive=False, trained=True),
               Metric("l0", "l0", "L0 reached"),
               *(Metric(k, k) for k in TRAINING)),
    # The spliced model's loss (SAEBench core; the paper gives no Table 2 number for it): it can saturate.
    evaluation("lm_loss", "CE loss recovered and the KL score", _always,
               Metric("ce_loss_recovered", "ce_loss_recovered", "CE loss recovered", 1.0, judged=True,
                      positive=False, trained=True),
               Metric("kl_div_score", "kl_div_score", "KL score", 1.0, judged=True, positive=False, trained=True)),
    # The headline is SAEBench's average (over each data set's classes, then over data sets); the plain mean
    # over tasks beside it (saesanity.evals.probing.summarise).
    evaluation("probing", "sparse probing", _configured("probing"),
               Metric("top_1", "sparse_probing_top1", "sparse probing top-1", 1.0, judged=True),
               Metric("top_5", "sparse_probing_top5", "sparse probing top-5", 1.0, judged=True),
               Metric("top_1_task_mean", "sparse_probing_top1_task_mean", maximum=1.0),
               Metric("top_5_task_mean", "sparse_probing_top5_task_mean", maximum=1.0)),
    evaluation("ravel", "RAVEL", _configured("ravel"),
               Metric("score", "ravel", "RAVEL score", 1.0, judged=True, positive=False)),
    evaluation("autointerp", "AutoInterp detection", _judge_runs,
               Metric("score", "autointerp", "AutoInterp detection accuracy", 1.0, judged=True)),
    evaluation("concepts", "the ground-truth concept check (toy world)", _concepts_run,
               Metric("fraction_detected", "concepts_detected", "concepts detected (F1 >= 0.8)", 1.0, judged=True),
               Metric("fraction_detected_by_kind.tag", "concepts_detected_tag"),
               Metric("fraction_detected_by_kind.value", "concepts_detected_value"),
               Metric("fraction_detected_by_kind.token", "concepts_detected_token", "token concepts detected")),
)
BY_NAME: dict[str, Evaluation] = {e.name: e for e in EVALUATIONS}
METRICS: tuple[Metric, ...] = tuple(m for e in EVALUATIONS for m in e.metrics)
L0 = next(m for m in METRICS if m.name == "l0")


def configured(evals: Mapping, toyworld: bool) -> list[str]:
    """The evaluations the build runs for a language model, in EVALUATIONS' order."""
    return [e.name for e in EVALUATIONS if e.runs(evals, toyworld)]
