"""The sanity check's commands (config `sanity`): an SAE from elsewhere imported, an offline example of one,
the positive control on the toy world, and the verdicts against the random baselines."""

from __future__ import annotations

import argparse
import sys

from saesanity.command import Command, Subparsers


def cmd_sanity_import(args: argparse.Namespace) -> None:
    from saesanity.sanity.importer import import_external
    import_external(args.folder, args.data, args.out, args.name, args.source)


def add_sanity_import(sub: Subparsers) -> None:
    p = sub.add_parser("sanity-import", help="an SAE trained elsewhere (SAELens, sparsify, dictionary_learning) "
                       "into our layout, with its held-out L0 in reference.json")
    p.add_argument("--folder", required=True, help="the SAE's folder, in its library's format")
    p.add_argument("--data", required=True, help="held-out store of the SAE's model and hook")
    p.add_argument("--name", required=True, help="sanity.saes[].name")
    p.add_argument("--source", required=True, help="<model>-<hook>")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_import)


def cmd_sanity_example(args: argparse.Namespace) -> None:
    from saesanity.sanity.example import write_example
    write_example(args.sae, args.format, args.out, args.model, args.hook)


def add_sanity_example(sub: Subparsers) -> None:
    p = sub.add_parser("sanity-example", help="one of our trained SAEs written in another library's format")
    p.add_argument("--sae", required=True)
    p.add_argument("--format", required=True, help="saelens, sparsify or dictionary_learning")
    p.add_argument("--model", required=True)
    p.add_argument("--hook", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_example)


def cmd_sanity_concept_dictionary(args: argparse.Namespace) -> None:
    from saesanity.atomic import read_json
    from saesanity.data.store import ActivationStore
    from saesanity.sanity.concept_dictionary import write_concept_dictionary
    write_concept_dictionary(ActivationStore.open(args.train), args.documents, read_json(args.reference),
                             args.train_tokens, args.out)


def add_sanity_concept_dictionary(sub: Subparsers) -> None:
    p = sub.add_parser("sanity-concept-dictionary", help="a sanity check's positive control on the toy world: "
                       "its known concepts as an SAE of the checked SAE's width")
    p.add_argument("--train", required=True, help="training activation store of the SAE's model and hook")
    p.add_argument("--documents", required=True, help="the toy world's documents.parquet")
    p.add_argument("--reference", required=True, help="the checked SAE's reference.json (name, source, d_sae)")
    p.add_argument("--train-tokens", type=int, required=True, help="training rows the detectors are fitted on")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_concept_dictionary)


def cmd_sanity_verdict(args: argparse.Namespace) -> None:
    from saesanity.atomic import atomic_path, read_json
    from saesanity.sanity.verdict import NoCheckName, metrics_by_check, write_verdict
    try:
        by_name = metrics_by_check(args.metrics)
    except NoCheckName as err:
        sys.exit(f"saesanity sanity-verdict: {err}")
    references = {ref["name"]: ref for ref in map(read_json, args.references)}
    if set(by_name) != set(references):
        sys.exit(f"saesanity sanity-verdict: metrics for {sorted(by_name)} but references for {sorted(references)}")
    with atomic_path(args.out) as tmp:
        for name, files in sorted(by_name.items()):
            write_verdict(name, references[name], files, tmp / name)


def add_sanity_verdict(sub: Subparsers) -> None:
    p = sub.add_parser("sanity-verdict", help="results/sanity/<name>/verdict.{csv,md,png} of every checked SAE")
    p.add_argument("--references", nargs="+", required=True, help="each imported SAE's reference.json")
    p.add_argument("--metrics", nargs="+", required=True,
                   help="per-SAE metrics JSON of each imported SAE and its baselines")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_sanity_verdict)


COMMANDS: tuple[Command, ...] = (add_sanity_import, add_sanity_example, add_sanity_concept_dictionary,
                                 add_sanity_verdict)
