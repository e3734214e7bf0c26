"""The data stage's commands: the synthetic activations and the toy-world corpus."""

from __future__ import annotations

import argparse

from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import SyntheticConfig, from_dict


def cmd_synthetic(args: argparse.Namespace) -> None:
    from saesanity.data.synthetic import generate
    generate(from_dict(SyntheticConfig, json_arg(args.spec), "synthetic"), args.out)


def add_synthetic(sub: Subparsers) -> None:
    p = sub.add_parser("synthetic", help="generate the ground-truth features and activation shards")
    p.add_argument("--spec", required=True, help="JSON of saesanity.config.SyntheticConfig")
    p.add_argument("--out", required=True, help="folder for features.parquet, activations/, heldout/")
    p.set_defaults(func=cmd_synthetic)


def cmd_toyworld(args: argparse.Namespace) -> None:
    from saesanity.data.toyworld import ToyWorldConfig, generate
    generate(from_dict(ToyWorldConfig, json_arg(args.spec), "toyworld.corpus"), args.out)


def add_toyworld(sub: Subparsers) -> None:
    p = sub.add_parser("toyworld", help="generate the toy-world corpus (documents, prompts, entities)")
    p.add_argument("--spec", required=True, help="JSON of saesanity.data.toyworld.ToyWorldConfig")
    p.add_argument("--out", required=True, help="corpus folder")
    p.set_defaults(func=cmd_toyworld)


COMMANDS: tuple[Command, ...] = (add_synthetic, add_toyworld)
