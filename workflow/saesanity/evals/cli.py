"""The per-SAE evaluations' commands (and the once-per-model work some of them share): each writes one
metrics JSON that starts with the SAE's identity (saesanity.evals.identity)."""

from __future__ import annotations

import argparse
import sys

from saesanity.atomic import write_json
from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import ConsistencyConfig, from_dict
from saesanity.evals.l0_match import L0Match


def cmd_convergence_eval(args: argparse.Namespace) -> None:
    from saesanity.evals.convergence import convergence_metrics
    write_json(args.out, convergence_metrics(args.sae, args.data, args.features, args.threshold))


def add_convergence_eval(sub: Subparsers) -> None:
    p = sub.add_parser("convergence-eval", help="recovery and EV of one SAE at each of its checkpoints")
    p.add_argument("--sae", required=True)
    p.add_argument("--data", required=True, help="held-out store")
    p.add_argument("--features", required=True)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_convergence_eval)


def cmd_concepts_reference(args: argparse.Namespace) -> None:
    from saesanity.data.store import ActivationStore
    from saesanity.evals.autointerp.reference import reference_records
    spec = json_arg(args.spec)
    write_json(args.out, {"source": args.source, **reference_records(
        ActivationStore.open(args.train), ActivationStore.open(args.heldout), args.documents, **spec)})


def add_concepts_reference(sub: Subparsers) -> None:
    p = sub.add_parser("concepts-reference", help="the concept check of an ideal and a random dictionary")
    p.add_argument("--train", required=True)
    p.add_argument("--heldout", required=True)
    p.add_argument("--documents", required=True, help="the toy world's documents.parquet")
    p.add_argument("--spec", required=True, help="JSON: d_sae, target_l0, threshold, train_tokens, seed")
    p.add_argument("--source", required=True, help="<model>-<hook>, recorded in the output")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_concepts_reference)


def cmd_eval_core(args: argparse.Namespace) -> None:
    from saesanity.evals.synthetic import core_metrics
    write_json(args.out, core_metrics(args.sae, args.data, from_dict(L0Match, json_arg(args.l0_match), "l0_match")))


def add_eval_core(sub: Subparsers) -> None:
    p = sub.add_parser("eval-core", help="EV (Eq. 5), L0 and dead fraction on a held-out store; the L0 check")
    p.add_argument("--sae", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--l0-match", default="{}", help="JSON of saesanity.evals.l0_match.L0Match")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_core)


def cmd_eval_recovery(args: argparse.Namespace) -> None:
    from saesanity.evals.synthetic import recovery_metrics
    write_json(args.out, recovery_metrics(args.sae, args.features, args.threshold))


def add_eval_recovery(sub: Subparsers) -> None:
    p = sub.add_parser("eval-recovery", help="recovery of known features (Eq. 6) and ground-truth MCC")
    p.add_argument("--sae", required=True)
    p.add_argument("--features", required=True)
    p.add_argument("--threshold", type=float, default=0.8)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_recovery)


def cmd_consistency(args: argparse.Namespace) -> None:
    from saesanity.evals.consistency import consistency_metrics
    cfg = from_dict(ConsistencyConfig, json_arg(args.spec), "consistency")
    write_json(args.out, consistency_metrics(args.saes, cfg))


def add_consistency(sub: Subparsers) -> None:
    p = sub.add_parser("consistency", help="PW-MCC, shared latents and matched cosines across seeds")
    p.add_argument("--saes", nargs="+", required=True)
    p.add_argument("--spec", default="{}", help="JSON of saesanity.config.ConsistencyConfig")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_consistency)


def cmd_validation(args: argparse.Namespace) -> None:
    from saesanity.evals.consistency import validation_metrics
    cfg = from_dict(ConsistencyConfig, json_arg(args.spec), "consistency")
    write_json(args.out, {"experiment": args.experiment, **validation_metrics(args.saes, args.features, cfg)})


def add_validation(sub: Subparsers) -> None:
    p = sub.add_parser("validation", help="GT-MCC and PW-MCC at every checkpoint of a group of seeds")
    p.add_argument("--saes", nargs="+", required=True, help="SAE folders, one per seed")
    p.add_argument("--features", required=True, help="features.parquet of their data")
    p.add_argument("--spec", default="{}", help="JSON of saesanity.config.ConsistencyConfig")
    p.add_argument("--experiment", default="", help="label carried into the table (checkpoints, sizes)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_validation)


def cmd_eval_lm_loss(args: argparse.Namespace) -> None:
    from saesanity.evals.lm_loss import lm_loss_metrics
    from saesanity.lm.model import ModelSpec
    spec = json_arg(args.spec)
    write_json(args.out, lm_loss_metrics(args.sae, from_dict(ModelSpec, spec["model"], "lm"), spec["hook"],
                                         args.data, spec["n_docs"], spec["batch_docs"], args.reference))


def add_eval_lm_loss(sub: Subparsers) -> None:
    p = sub.add_parser("eval-lm-loss", help="CE-loss recovered and KL score with the SAE spliced in")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, n_docs, batch_docs")
    p.add_argument("--data", required=True, help="held-out store harvested at the hook")
    p.add_argument("--reference", default=None, help="folder written by lm-loss-prep for the same spec and store "
                                                    "(else the zero-ablation run is done here)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_lm_loss)


def cmd_lm_loss_prep(args: argparse.Namespace) -> None:
    from saesanity.evals.lm_loss import write_reference
    from saesanity.lm.model import ModelSpec
    spec = json_arg(args.spec)
    write_reference(from_dict(ModelSpec, spec["model"], "lm"), spec["hook"], args.data, spec["n_docs"],
                    spec["batch_docs"], args.out)


def add_lm_loss_prep(sub: Subparsers) -> None:
    p = sub.add_parser("lm-loss-prep", help="the zero-ablation reference of eval-lm-loss, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, n_docs, batch_docs")
    p.add_argument("--data", required=True, help="held-out store harvested at the hook")
    p.add_argument("--out", required=True, help="folder: zero_ablation.safetensors, reference.json")
    p.set_defaults(func=cmd_lm_loss_prep)


def cmd_probing_prep(args: argparse.Namespace) -> None:
    from saesanity.evals.probing import PrepJob, prepare_probing
    prepare_probing(from_dict(PrepJob, json_arg(args.spec), "evals"), args.out)


def add_probing_prep(sub: Subparsers) -> None:
    p = sub.add_parser("probing-prep", help="sparse probing: tasks and token activations, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, probing (evals.probing)")
    p.add_argument("--out", required=True, help="folder: tokens/, tasks.parquet, prep.json")
    p.set_defaults(func=cmd_probing_prep)


def cmd_eval_probing(args: argparse.Namespace) -> None:
    from saesanity.evals.probing import probing_metrics
    spec = json_arg(args.spec)
    write_json(args.out, probing_metrics(args.sae, args.prep, spec["ks"], spec.get("device", "cpu")))


def add_eval_probing(sub: Subparsers) -> None:
    p = sub.add_parser("eval-probing", help="sparse probing of one SAE (top-k latents, SAEBench protocol)")
    p.add_argument("--sae", required=True)
    p.add_argument("--prep", required=True, help="folder written by probing-prep for the SAE's model and hook")
    p.add_argument("--spec", required=True, help='JSON: {"ks": [1, 2, 5], "device": "cpu"}')
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_probing)


def cmd_eval_autointerp(args: argparse.Namespace) -> None:
    from saesanity.evals.autointerp import OpenAIError, autointerp_config, autointerp_metrics
    try:
        record, concepts = autointerp_metrics(args.sae, args.train, args.heldout,
                                              autointerp_config(json_arg(args.spec)), documents=args.documents,
                                              tokenizer=args.tokenizer, concepts=args.concepts_out is not None,
                                              device=args.device)
    except OpenAIError as err:
        sys.exit(f"saesanity eval-autointerp: {err}")
    # concepts.json first: autointerp.json is the rule's main output, so it appears last.
    if args.concepts_out is not None:
        write_json(args.concepts_out, concepts)
    write_json(args.out, record)


def add_eval_autointerp(sub: Subparsers) -> None:
    p = sub.add_parser("eval-autointerp", help="detection scoring of latents; on the toy world also the "
                                               "ground-truth concept check")
    p.add_argument("--sae", required=True)
    p.add_argument("--train", required=True, help="training store (the explainer's top-activating contexts)")
    p.add_argument("--heldout", required=True, help="held-out store (the judged contexts, the concept check)")
    p.add_argument("--spec", default="{}", help="JSON of the evals.autointerp block")
    p.add_argument("--documents", help="toy world documents.parquet: token text and concept tags")
    p.add_argument("--tokenizer", help="Hugging Face tokenizer (name or folder) for token text without a corpus")
    p.add_argument("--out", required=True, help="autointerp.json")
    p.add_argument("--concepts-out", help="concepts.json (needs --documents)")
    p.add_argument("--device", default="cpu", help="where the SAE encodes: auto (cuda if torch sees one), cpu, cuda")
    p.set_defaults(func=cmd_eval_autointerp)


def _ravel_spec(args: argparse.Namespace):
    from saesanity.evals.ravel import RavelConfig
    from saesanity.lm.model import ModelSpec
    spec = json_arg(args.spec)
    return from_dict(ModelSpec, spec["model"], "lm"), spec["hook"], from_dict(RavelConfig, spec["ravel"], "evals.ravel")


def cmd_ravel_prep(args: argparse.Namespace) -> None:
    from saesanity.evals.ravel import prepare_ravel
    prepare_ravel(*_ravel_spec(args), args.corpus, args.out)


def add_ravel_prep(sub: Subparsers) -> None:
    p = sub.add_parser("ravel-prep", help="RAVEL: the prompts through the model, once per model and hook")
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, ravel (evals.ravel)")
    p.add_argument("--corpus", default=None, help="toy-world corpus folder (evals.ravel.data 'toyworld')")
    p.add_argument("--out", required=True, help="folder: clean.safetensors, prep.json")
    p.set_defaults(func=cmd_ravel_prep)


def cmd_eval_ravel(args: argparse.Namespace) -> None:
    from saesanity.evals.ravel import ravel_metrics
    write_json(args.out, ravel_metrics(args.sae, *_ravel_spec(args), args.corpus, args.prep))


def add_eval_ravel(sub: Subparsers) -> None:
    p = sub.add_parser("eval-ravel", help="RAVEL-style causal editing with MDBM masks over the SAE's latents")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON: model (ModelSpec), hook, ravel (evals.ravel)")
    p.add_argument("--corpus", default=None, help="toy-world corpus folder (evals.ravel.data 'toyworld')")
    p.add_argument("--prep", default=None, help="folder written by ravel-prep for the same spec's model, hook "
                                                "and prompts (else that work is done here)")
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_eval_ravel)


COMMANDS: tuple[Command, ...] = (add_convergence_eval, add_concepts_reference, add_eval_core, add_eval_recovery,
                                 add_consistency, add_validation, add_eval_lm_loss, add_lm_loss_prep,
                                 add_probing_prep, add_eval_probing, add_eval_autointerp, add_ravel_prep,
                                 add_eval_ravel)
