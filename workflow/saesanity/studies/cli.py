"""The opt-in studies' per-SAE commands (docs/studies.md): SAE stitching and meta-SAEs (arXiv 2502.04878),
probing in four regimes (arXiv 2502.16681). Their report, results/studies, is saesanity.figures.cli's."""

from __future__ import annotations

import argparse

from saesanity.atomic import write_json
from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import ConfigError, from_dict


def cmd_stitching(args: argparse.Namespace) -> None:
    from saesanity.studies.stitching import StitchingConfig
    from saesanity.studies.studies_jobs import stitching_record
    model = None
    if args.model_spec:
        from saesanity.lm.model import ModelSpec
        if not args.hook:
            raise ConfigError("--model-spec needs --hook")
        model = from_dict(ModelSpec, json_arg(args.model_spec), "lm")
    cfg = from_dict(StitchingConfig, json_arg(args.spec), "studies.stitching")
    write_json(args.out, stitching_record(args.small, args.large, args.data, cfg, model, args.hook, args.documents))


def add_stitching(sub: Subparsers) -> None:
    p = sub.add_parser("stitching", help="SAE stitching of a smaller SAE towards a larger one (arXiv 2502.04878)")
    p.add_argument("--small", required=True, help="the smaller SAE's folder")
    p.add_argument("--large", required=True, help="the larger SAE's folder (same activations)")
    p.add_argument("--data", required=True, help="held-out store")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.studies.stitching.StitchingConfig")
    p.add_argument("--model-spec", help="JSON of saesanity.lm.model.ModelSpec: CE loss at points of the curve")
    p.add_argument("--hook", help="the hook the store was harvested at (with --model-spec)")
    p.add_argument("--documents", help="toy world documents.parquet: novel latents against the world's concepts")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_stitching)


def cmd_meta_sae(args: argparse.Namespace) -> None:
    from saesanity.studies.meta_sae import MetaSAEConfig
    from saesanity.studies.studies_jobs import meta_record
    cfg = from_dict(MetaSAEConfig, json_arg(args.spec), "studies.meta_sae")
    if (args.data is None) != (args.documents is None):
        raise ConfigError("--data and --documents go together (the attribute alignment needs both)")
    write_json(args.out, meta_record(args.sae, cfg, args.data, args.documents))


def add_meta_sae(sub: Subparsers) -> None:
    p = sub.add_parser("meta-sae", help="a meta-SAE on an SAE's decoder rows (arXiv 2502.04878)")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", default="{}", help="JSON of saesanity.studies.meta_sae.MetaSAEConfig")
    p.add_argument("--data", help="held-out store (toy world: with --documents, the attribute alignment)")
    p.add_argument("--documents", help="toy world documents.parquet")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_meta_sae)


def cmd_regimes_prep(args: argparse.Namespace) -> None:
    from saesanity.studies.regimes_job import RegimesPrepJob, prepare_regimes
    prepare_regimes(from_dict(RegimesPrepJob, json_arg(args.spec), "studies"), args.out)


def add_regimes_prep(sub: Subparsers) -> None:
    p = sub.add_parser("regimes-prep", help="probing in four regimes: documents and token activations, once per "
                       "model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, regimes (RegimesConfig)")
    p.add_argument("--out", required=True, help="folder: tokens/, docs.parquet, prep.json")
    p.set_defaults(func=cmd_regimes_prep)


def cmd_regimes_probe(args: argparse.Namespace) -> None:
    from saesanity.studies.regimes import regimes_config
    from saesanity.studies.regimes_job import regimes_probe
    spec = json_arg(args.spec)
    unknown = sorted(set(spec) - {"regimes", "device"})
    if unknown:
        raise ConfigError(f"regimes-probe --spec: unknown key(s) {unknown}; known: ['device', 'regimes']")
    write_json(args.out, regimes_probe(args.prep, regimes_config(spec.get("regimes", {})), args.sae,
                                       spec.get("device", "cpu")))


def add_regimes_probe(sub: Subparsers) -> None:
    p = sub.add_parser("regimes-probe", help="probing in four regimes: the baselines (no --sae) or one SAE's "
                       "top-k probes")
    p.add_argument("--prep", required=True, help="folder written by regimes-prep")
    p.add_argument("--spec", required=True, help='JSON: {"regimes": RegimesConfig, "device": "cpu"}')
    p.add_argument("--sae", default=None, help="SAE folder; without it the baselines on the activations")
    p.add_argument("--out", required=True, help="JSON: identity, records, not_available")
    p.set_defaults(func=cmd_regimes_probe)


COMMANDS: tuple[Command, ...] = (add_stitching, add_meta_sae, add_regimes_prep, add_regimes_probe)
