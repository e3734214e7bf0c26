"""The commands that write a results folder of figures: results/figures from results/tables, and
results/studies and results/vision, each its tables (written by saesanity.studies.report and
saesanity.tables.vision) and the figures drawn from them."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from saesanity.command import Command, Subparsers
from saesanity.config import ConfigError


def cmd_studies(args: argparse.Namespace) -> None:
    from saesanity.figures.render import write_studies
    from saesanity.studies.report import studies_tables
    write_studies(studies_tables(args.core, args.stitching, args.meta, args.regimes_baselines, args.regimes),
                  Path(args.out))


def add_studies(sub: Subparsers) -> None:
    p = sub.add_parser("studies", help="results/studies: tables and figures of stitching, meta-SAEs and the four "
                                       "probing regimes")
    p.add_argument("--core", nargs="*", default=[], help="core.json of every width-family member")
    p.add_argument("--stitching", nargs="*", default=[], help="stitching JSON per pair")
    p.add_argument("--meta", nargs="*", default=[], help="meta-SAE JSON per SAE")
    p.add_argument("--regimes-baselines", nargs="*", default=[], help="regimes-probe JSON without --sae, per source")
    p.add_argument("--regimes", nargs="*", default=[], help="regimes-probe JSON per SAE")
    p.add_argument("--out", required=True, help="the folder (results/studies)")
    p.set_defaults(func=cmd_studies)


def cmd_figures(args: argparse.Namespace) -> None:
    from saesanity.figures.render import make_figures
    folders = {Path(t).parent for t in args.tables}
    if len(folders) != 1:
        raise ConfigError(f"--tables: the tables must be in one folder, got {sorted(map(str, folders))}")
    make_figures(folders.pop(), Path(args.out), {Path(t).stem for t in args.tables})


def add_figures(sub: Subparsers) -> None:
    p = sub.add_parser("figures", help="every figure, from the tables")
    p.add_argument("--tables", nargs="+", required=True, help="the tables' CSV files (one folder)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_figures)


def cmd_vision_report(args: argparse.Namespace) -> None:
    from saesanity.figures.render import write_vision
    from saesanity.tables.tidy import MetricsFileError
    from saesanity.tables.vision import vision_tables
    try:
        write_vision(vision_tables(args.core, args.vision, args.model, args.reference), Path(args.out))
    except MetricsFileError as err:
        sys.exit(f"saesanity vision-report: {err}")


def add_vision_report(sub: Subparsers) -> None:
    p = sub.add_parser("vision-report", help="results/vision: vision_table2.csv, vision_model.csv, the figure")
    p.add_argument("--core", nargs="+", required=True)
    p.add_argument("--vision", nargs="+", required=True)
    p.add_argument("--model", nargs="*", default=[], help="the toy ViT's metrics JSON")
    p.add_argument("--reference", nargs="*", default=[], help="vision_concepts_reference.json per source")
    p.add_argument("--out", required=True, help="folder")
    p.set_defaults(func=cmd_vision_report)


COMMANDS: tuple[Command, ...] = (add_studies, add_figures, add_vision_report)
