"""What each results folder of figures holds: results/figures drawn from results/tables, and the figures of
results/studies and results/vision drawn from the tables written beside them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from saesanity.atomic import atomic_path
from saesanity.figures import (
    lazy_training,
    lm_core,
    probing_regimes,
    pwmcc_validation,
    stitching,
    synthetic_convergence,
    synthetic_consistency,
    synthetic_ev_recovery,
    synthetic_recovery_vs_p,
    table2_l0_sweep,
    table2_metrics,
    vision_table2,
)
from saesanity.figures.style import save
from saesanity.tables.tidy import write_csv

FIGURES = {
    "synthetic_ev_recovery": synthetic_ev_recovery.plot,
    "synthetic_recovery_vs_p": synthetic_recovery_vs_p.plot,
    "synthetic_pwmcc_vs_gtmcc": synthetic_consistency.plot,
    "pwmcc_validation": pwmcc_validation.plot,
    "lm_core": lm_core.plot,
    "table2": table2_metrics.plot,
    "table2_l0_sweep": table2_l0_sweep.plot,
    "lazy_training": lazy_training.plot,
    "synthetic_convergence": synthetic_convergence.plot,
    "synthetic_convergence_axes": synthetic_convergence.plot_axes,
}
OPTIONAL = {"synthetic_convergence": "convergence", "synthetic_convergence_axes": "convergence"}
"""Figures drawn only when their table is among the inputs (a study the config may not have)."""
STUDY_FIGURES = {
    "studies_stitching_curves": stitching.plot_curves,
    "studies_novel_fraction": stitching.plot_novel_fraction,
    "studies_meta_ve": stitching.plot_meta,
    "probing_regimes": probing_regimes.plot,
}
"""results/studies/'s figures, drawn from its own tables (saesanity.studies.report)."""
VISION_FIGURE = "vision_table2"
"""results/vision/'s figure, drawn from its table of the same name (saesanity.tables.vision)."""


def make_figures(tables: Path, out: Path, given: set[str] | None = None) -> None:
    """Writes <name>.png and <name>.pdf for every figure the tables hold data for (a plot returns None
    otherwise: the L0 sweep without a sweep); the folder appears only when all are done. `given`: the stems
    of the tables passed as inputs; an OPTIONAL figure whose table is not among them is not drawn, even if
    an older file lies in the folder."""
    with atomic_path(out) as tmp:
        tmp.mkdir()
        for name, plot in FIGURES.items():
            if name in OPTIONAL and given is not None and OPTIONAL[name] not in given:
                continue
            fig = plot(tables)
            if fig is not None:
                save(fig, tmp / name)


def write_studies(tables: dict[str, pd.DataFrame], out: Path) -> None:
    """results/studies/: <name>.csv for each of `tables` (saesanity.studies.report.studies_tables) and every
    STUDY_FIGURES figure they hold data for; the folder appears only when all are written."""
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write_tables(tables, tmp)
        # Drawn from the CSV files just written, as make_figures draws from results/tables.
        for name, plot in STUDY_FIGURES.items():
            fig = plot(tmp)
            if fig is not None:
                save(fig, tmp / name)


def write_vision(tables: dict[str, pd.DataFrame], out: Path) -> None:
    """results/vision/: <name>.csv for each of `tables` (saesanity.tables.vision.vision_tables) and the
    vision Table 2 figure; the folder appears only when all are written."""
    with atomic_path(out) as tmp:
        tmp.mkdir()
        _write_tables(tables, tmp)
        save(vision_table2.plot(tables[VISION_FIGURE]), tmp / VISION_FIGURE)


def _write_tables(tables: dict[str, pd.DataFrame], folder: Path) -> None:
    for name, table in tables.items():
        write_csv(table, folder / f"{name}.csv")
