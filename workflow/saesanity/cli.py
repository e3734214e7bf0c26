"""`python -m saesanity <stage> ...`: every Snakemake rule is one call of this CLI, so any job can be rerun
by hand with the command in its log."""

# Each stage declares its commands next to its code (<stage>/cli.py: the arguments and the function that runs
# them); this module only assembles them. A stage's cli module imports its stage's code inside each command,
# so that a job loads only what it runs (`table2` never loads transformer_lens).

from __future__ import annotations

import argparse
import sys
from types import ModuleType

import saesanity.data.cli
import saesanity.data.offline.cli
import saesanity.evals.cli
import saesanity.figures.cli
import saesanity.lm.cli
import saesanity.sanity.cli
import saesanity.studies.cli
import saesanity.tables.cli
import saesanity.train_cli
import saesanity.vision.cli
from saesanity.config import ConfigError
from saesanity.data.offline.pypi import PypiFetchError
from saesanity.evals.l0_match import L0Mismatch

STAGES: tuple[ModuleType, ...] = (
    saesanity.data.cli,
    saesanity.data.offline.cli,
    saesanity.lm.cli,
    saesanity.train_cli,
    saesanity.evals.cli,
    saesanity.tables.cli,
    saesanity.sanity.cli,
    saesanity.studies.cli,
    saesanity.vision.cli,
    saesanity.figures.cli,
)
"""The modules whose COMMANDS make up the CLI, in the order the help lists them (the pipeline's)."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="saesanity", description=__doc__)
    # Results are bit-identical for a given thread count; the rules pass the job's threads.
    parser.add_argument("--threads", type=int, default=1, help="torch threads (before the subcommand)")
    sub = parser.add_subparsers(dest="command", required=True)
    for stage in STAGES:
        for add in stage.COMMANDS:
            add(sub)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    print("saesanity", " ".join(sys.argv[1:] if argv is None else argv), file=sys.stderr, flush=True)
    import torch
    torch.set_num_threads(args.threads)
    try:
        args.func(args)
    except ConfigError as err:
        sys.exit(f"saesanity {args.command}: config error: {err}")
    except L0Mismatch as err:
        sys.exit(f"saesanity {args.command}: L0 not matched: {err}")
    except PypiFetchError as err:
        sys.exit(f"saesanity {args.command}: {err}")
