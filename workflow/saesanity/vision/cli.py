"""The opt-in vision part's commands (config `vision`, docs/vision.md): the toy image world, the toy ViT, the
activations and the per-SAE vision evaluations. Its report, results/vision, is saesanity.figures.cli's."""

from __future__ import annotations

import argparse
import sys

from saesanity.atomic import write_json
from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import from_dict


def cmd_vision_world(args: argparse.Namespace) -> None:
    from saesanity.vision.world import VisionWorldConfig, generate
    generate(from_dict(VisionWorldConfig, json_arg(args.spec), "vision.world"), args.out)


def add_vision_world(sub: Subparsers) -> None:
    p = sub.add_parser("vision-world", help="generate the toy vision world's images (known concepts per patch)")
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.world.VisionWorldConfig")
    p.add_argument("--out", required=True, help="folder: images.parquet")
    p.set_defaults(func=cmd_vision_world)


def cmd_train_vit(args: argparse.Namespace) -> None:
    from saesanity.vision.train_vit import ViTJob, train_vit
    job = from_dict(ViTJob, json_arg(args.spec), "vision")
    train_vit(job, args.world, args.out, args.metrics, threads=args.threads)


def add_train_vit(sub: Subparsers) -> None:
    p = sub.add_parser("train-vit", help="train the toy ViT on the vision world and measure its held-out accuracy")
    p.add_argument("--spec", required=True, help="JSON: model (ToyViTConfig), train (ViTTrainConfig)")
    p.add_argument("--world", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--metrics", required=True, help="JSON: held-out loss and accuracy")
    p.set_defaults(func=cmd_train_vit)


def cmd_vision_harvest(args: argparse.Namespace) -> None:
    from saesanity.vision.harvest import VisionHarvestJob, run_vision_harvest
    from saesanity.vision.model import VisionModelNotAvailable
    try:
        run_vision_harvest(from_dict(VisionHarvestJob, json_arg(args.spec), "vision"), args.out, args.heldout_out)
    except VisionModelNotAvailable as err:
        sys.exit(f"saesanity vision-harvest: {err}")


def add_vision_harvest(sub: Subparsers) -> None:
    p = sub.add_parser("vision-harvest", help="a vision model's activations (CLS and patches) at one hook")
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.harvest.VisionHarvestJob")
    p.add_argument("--out", required=True)
    p.add_argument("--heldout-out", required=True)
    p.set_defaults(func=cmd_vision_harvest)


def cmd_eval_vision(args: argparse.Namespace) -> None:
    from saesanity.vision.evals import VisionEvalJob, vision_metrics
    write_json(args.out, vision_metrics(args.sae, from_dict(VisionEvalJob, json_arg(args.spec), "vision"), args.train,
                                        args.heldout))


def add_eval_vision(sub: Subparsers) -> None:
    p = sub.add_parser("eval-vision", help="one vision SAE: spliced loss/accuracy recovered, sparse probing, "
                                           "concepts detected, detection scoring")
    p.add_argument("--sae", required=True)
    p.add_argument("--spec", required=True, help="JSON of saesanity.vision.evals.VisionEvalJob")
    p.add_argument("--train", required=True, help="training store (the explainer's top patches)")
    p.add_argument("--heldout", required=True)
    p.add_argument("--out", required=True, help="vision.json")
    p.set_defaults(func=cmd_eval_vision)


def cmd_vision_concepts_reference(args: argparse.Namespace) -> None:
    from saesanity.vision.evals import concepts_reference
    from saesanity.vision.images import ImageSource
    spec = json_arg(args.spec)
    images = from_dict(ImageSource, spec.pop("images"), "vision.images")
    write_json(args.out, concepts_reference(args.train, args.heldout, images, args.source, **spec))


def add_vision_concepts_reference(sub: Subparsers) -> None:
    p = sub.add_parser("vision-concepts-reference", help="the vision concept check of an ideal and a random "
                                                         "dictionary")
    p.add_argument("--train", required=True)
    p.add_argument("--heldout", required=True)
    p.add_argument("--spec", required=True, help="JSON: images, d_sae, target_l0, threshold, train_images, seed")
    p.add_argument("--source", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_vision_concepts_reference)


COMMANDS: tuple[Command, ...] = (add_vision_world, add_train_vit, add_vision_harvest, add_eval_vision,
                                 add_vision_concepts_reference)
