"""The tables' commands: tidy CSV files in results/tables, built from the per-SAE metrics JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saesanity.command import Command, Subparsers


def cmd_table_convergence(args: argparse.Namespace) -> None:
    from saesanity.tables.convergence import convergence_table
    from saesanity.tables.tidy import write_csv
    write_csv(convergence_table(args.runs), Path(args.out))


def add_table_convergence(sub: Subparsers) -> None:
    p = sub.add_parser("table-convergence", help="results/tables/convergence.csv from the runs' metrics")
    p.add_argument("--runs", nargs="+", required=True, help="results/convergence/metrics/<dist>/<arch>/<run>.json")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_table_convergence)


def cmd_table_validation(args: argparse.Namespace) -> None:
    from saesanity.tables.validation import validation_tables
    validation_tables(args.points, args.out, args.correlation_out)


def add_table_validation(sub: Subparsers) -> None:
    p = sub.add_parser("table-validation", help="table of the validation experiment and its correlations")
    p.add_argument("--points", nargs="*", default=[], help="validation JSON files")
    p.add_argument("--out", required=True, help="validation.csv")
    p.add_argument("--correlation-out", required=True, help="validation_correlation.csv")
    p.set_defaults(func=cmd_table_validation)


def cmd_table_synthetic(args: argparse.Namespace) -> None:
    from saesanity.tables.synthetic import synthetic_tables
    synthetic_tables(args.core, args.recovery, args.consistency, args.features, args.out, args.features_out)


def add_table_synthetic(sub: Subparsers) -> None:
    p = sub.add_parser("table-synthetic", help="tidy tables of the synthetic experiment")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--recovery", nargs="+", required=True)
    p.add_argument("--consistency", nargs="*", default=[])
    p.add_argument("--features", nargs="+", required=True, help="features.parquet per distribution")
    p.add_argument("--out", required=True, help="synthetic.csv")
    p.add_argument("--features-out", required=True, help="synthetic_features.csv")
    p.set_defaults(func=cmd_table_synthetic)


def cmd_table_lm(args: argparse.Namespace) -> None:
    from saesanity.tables.lm import lm_tables
    lm_tables(args.core, args.lm_loss, args.consistency, args.lm_metrics, args.out, args.model_out)


def add_table_lm(sub: Subparsers) -> None:
    p = sub.add_parser("table-lm", help="tidy tables of the language-model SAEs and the toy model")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--lm-loss", nargs="+", required=True)
    p.add_argument("--consistency", nargs="*", default=[], help="consistency.json of variants with >= 2 seeds")
    p.add_argument("--lm-metrics", nargs="*", default=[], help="train_lm metrics JSON (toy world only)")
    p.add_argument("--out", required=True, help="lm_core.csv")
    p.add_argument("--model-out", required=True, help="lm_model.csv")
    p.set_defaults(func=cmd_table_lm)


def cmd_table_train_curves(args: argparse.Namespace) -> None:
    from saesanity.tables.tidy import write_csv
    from saesanity.tables.train_curves import train_curves_table
    write_csv(train_curves_table(args.curves), Path(args.out))


def add_table_train_curves(sub: Subparsers) -> None:
    p = sub.add_parser("table-train-curves", help="train_curves.csv: the language-model SAEs' training curves")
    p.add_argument("--curves", nargs="*", default=[], help="train_curve.csv of each SAE (cfg.json beside it)")
    p.add_argument("--out", required=True, help="train_curves.csv")
    p.set_defaults(func=cmd_table_train_curves)


def cmd_table2(args: argparse.Namespace) -> None:
    from saesanity.tables.table2 import MetricsFileError, by_evaluation, write_table2
    try:
        write_table2(by_evaluation(args.metrics), args.out, args.headline_l0, args.concepts_reference)
    except MetricsFileError as err:
        sys.exit(f"saesanity table2: {err}")


def add_table2(sub: Subparsers) -> None:
    p = sub.add_parser("table2", help="arXiv 2602.14111 Table 2 (+ AutoInterp, concepts, L0) per LM SAE")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="<evaluation>.json per SAE, of any evaluation of saesanity.evals.registry (core.json at "
                        "least); an evaluation with no files gives no rows")
    p.add_argument("--concepts-reference", nargs="*", default=[],
                   help="concepts_reference.json per toy-world source: the ideal and random dictionaries' rows")
    p.add_argument("--headline-l0", type=float, default=None,
                   help="the paper's numbers go beside this L0 only (the others are an L0 sweep)")
    p.add_argument("--out", required=True, help="table2.csv")
    p.set_defaults(func=cmd_table2)


COMMANDS: tuple[Command, ...] = (add_table_convergence, add_table_validation, add_table_synthetic, add_table_lm,
                                 add_table_train_curves, add_table2)
