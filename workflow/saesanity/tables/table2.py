"""results/tables/table2.csv: Table 2 of arXiv 2602.14111 (EV, sparse probing top-1 and top-5, RAVEL) plus
CE-loss recovered and the KL score, AutoInterp, our ground-truth concept check and the L0 reached, for every language-model SAE and its mean
over seeds, with the paper's number beside ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from saesanity.atomic import read_json

from saesanity.paper import table2_paper_value
from saesanity.tables.saturation import with_saturation
from saesanity.tables.tidy import (TRAINING, MetricsFileError, metric_rows, value_of, with_paper_values, with_seed_aggregates,
                                   write_csv)

# Per evaluation (its <eval>.json under results/metrics/.../seed<seed>/): (key in the file, metric in the table).
# The metric names of the paper's four columns are those of saesanity.paper.TABLE2_METRICS.
COLUMNS: dict[str, list[tuple[str, str]]] = {
    # With how far each SAE trained and whether it converged (tidy.TRAINING), beside the metrics they qualify.
    "core": [("explained_variance", "explained_variance"), ("l0", "l0"), *((k, k) for k in TRAINING)],
    # The spliced model's loss (SAEBench core; the paper gives no Table 2 number for it): it can saturate.
    "lm_loss": [("ce_loss_recovered", "ce_loss_recovered"), ("kl_div_score", "kl_div_score")],
    # The headline is SAEBench's average (over each data set's classes, then over data sets); the plain mean
    # over tasks beside it (saesanity.evals.probing.summarise).
    "probing": [("top_1", "sparse_probing_top1"), ("top_5", "sparse_probing_top5"),
                ("top_1_task_mean", "sparse_probing_top1_task_mean"),
                ("top_5_task_mean", "sparse_probing_top5_task_mean")],
    "ravel": [("score", "ravel")],
    "autointerp": [("score", "autointerp")],
    "concepts": [("fraction_detected", "concepts_detected"),
                 ("fraction_detected_by_kind.tag", "concepts_detected_tag"),
                 ("fraction_detected_by_kind.value", "concepts_detected_value"),
                 ("fraction_detected_by_kind.token", "concepts_detected_token")],
}
REFERENCE = "reference"
"""The `arch` of the concept check's reference dictionaries (saesanity.evals.autointerp.reference)."""
METRICS = [metric for cols in COLUMNS.values() for _, metric in cols]
# target_l0 is part of the key: an L0 sweep (saes.lm.l0_sweep) gives one row group per L0.
KEY = ["source", "arch", "variant", "target_l0"]


def reference_rows(files: Sequence[str]) -> list[dict]:
    """The concept check of the ideal and the random dictionary (concepts_reference.json), as rows of
    arch 'reference'."""
    rows = []
    for f in files:
        m = read_json(f)
        for variant in ("ideal", "random"):
            ident = {"source": m["source"], "arch": REFERENCE, "variant": variant, "seed": "0",
                     "d_sae": m["d_sae"], "target_l0": m["target_l0"]}
            for key, metric in COLUMNS["concepts"]:
                v = value_of(m[variant], key, str(f), "concepts_reference")
                rows.append({**ident, "metric": metric, "value": float("nan") if v is None else float(v)})
    return rows


def table2(metric_files: Mapping[str, Sequence[str]], headline_l0: float | None = None,
           concepts_reference: Sequence[str] = ()) -> pd.DataFrame:
    """Per SAE and mean over seeds (std, n_seeds) of every metric whose files are given; an evaluation with
    no files (not configured for this model) gives no rows. The paper's number sits beside the seed means,
    at the headline L0 only when one is given (the paper's Table 2 is at L0 160 of its sweep). A metric on
    which the trained SAE and every baseline sit at the ceiling is marked `saturated` (tables.saturation)."""
    unknown = set(metric_files) - set(COLUMNS)
    if unknown:
        raise KeyError(f"unknown evaluations {sorted(unknown)}; known: {list(COLUMNS)}")
    rows = [r for name, files in metric_files.items() for r in metric_rows(name, files, COLUMNS[name])]
    rows += reference_rows(concepts_reference)
    if not rows:
        raise MetricsFileError("table2: no metrics files given (core.json at least is expected)")
    def is_headline(target_l0) -> bool:
        return headline_l0 is None or float(target_l0) == float(headline_l0)

    table = with_paper_values(with_seed_aggregates(pd.DataFrame(rows), (), KEY), KEY, lambda r: (
        table2_paper_value(r.arch, r.variant, r.metric) if is_headline(r.target_l0) else None))
    # No across-seed rows here (PW-MCC is in lm_core.csv), so no init column; the figures draw their bars
    # at the headline L0 and lines over the sweep.
    table = table.drop(columns="init")
    table.insert(table.columns.get_loc("target_l0") + 1, "headline", table.target_l0.map(is_headline))
    return with_saturation(table, KEY)


def write_table2(metric_files: Mapping[str, Sequence[str]], out: str | Path, headline_l0: float | None = None,
                 concepts_reference: Sequence[str] = ()) -> None:
    write_csv(table2(metric_files, headline_l0, concepts_reference), Path(out))
