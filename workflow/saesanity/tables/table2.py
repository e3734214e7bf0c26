"""results/tables/table2.csv: Table 2 of arXiv 2602.14111 (EV, sparse probing top-1 and top-5, RAVEL) plus
CE-loss recovered and the KL score, AutoInterp, our ground-truth concept check and the L0 reached, for every language-model SAE and its mean
over seeds, with the paper's number beside ours."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from saesanity.atomic import read_json
from saesanity.evals.registry import EVALUATIONS
from saesanity.paper import table2_paper_value
from saesanity.tables.saturation import with_saturation
from saesanity.tables.tidy import (MetricsFileError, metric_rows, value_of, with_paper_values, with_seed_aggregates,
                                   write_csv)

COLUMNS: dict[str, list[tuple[str, str]]] = {e.name: [(m.key, m.name) for m in e.metrics] for e in EVALUATIONS}
"""Per evaluation (its <name>.json under results/metrics/.../seed<seed>/, saesanity.evals.registry): (key in the
file, metric in the table). The metric names of the paper's four columns are those of
saesanity.paper.TABLE2_METRICS."""
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


def by_evaluation(files: Sequence[str]) -> dict[str, list[str]]:
    """Metrics files grouped by the evaluation each is the output of (<name>.json, its name in
    saesanity.evals.registry), in the registry's order."""
    grouped: dict[str, list[str]] = {}
    for f in files:
        name = Path(f).stem
        if name not in COLUMNS:
            raise MetricsFileError(f"{f}: not the output of an evaluation table2.csv reads (<name>.json, name one "
                                   f"of {list(COLUMNS)})")
        grouped.setdefault(name, []).append(str(f))
    return {name: grouped[name] for name in COLUMNS if name in grouped}


def write_table2(metric_files: Mapping[str, Sequence[str]], out: str | Path, headline_l0: float | None = None,
                 concepts_reference: Sequence[str] = ()) -> None:
    write_csv(table2(metric_files, headline_l0, concepts_reference), Path(out))
