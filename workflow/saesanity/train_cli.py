"""The training stage's command (saesanity.train): one SAE, or several in one pass over an activation store."""

from __future__ import annotations

import argparse

from saesanity.command import Command, Subparsers, json_arg
from saesanity.config import UNTRAINED, ConfigError, TrainJob, from_dict


def cmd_train(args: argparse.Namespace) -> None:
    from saesanity.data.store import ActivationStore
    from saesanity.train import train_saes
    spec = json_arg(args.spec)
    specs = spec if isinstance(spec, list) else [spec]
    if len(specs) != len(args.out):
        raise ConfigError(f"--spec lists {len(specs)} SAEs but --out names {len(args.out)} folders")
    metadata = {"source": args.source}
    if args.target_l0_from:
        # A sanity check's baselines: trained to the L0 the imported SAE reaches on held-out data, and named
        # after the check in cfg.json as the imported SAE is (their records' identity, for the verdict).
        from saesanity.evals.identity import SANITY
        from saesanity.sanity.importer import read_name, read_target_l0
        target_l0 = read_target_l0(args.target_l0_from)
        for s in specs:
            s["sae"]["target_l0"] = target_l0
        metadata[SANITY] = read_name(args.target_l0_from)
    jobs = [from_dict(TrainJob, s, f"train_job[{i}]") for i, s in enumerate(specs)]
    truth_FD = None
    if args.truth:
        import torch
        from saesanity.data.synthetic import read_features
        truth_FD = torch.from_numpy(read_features(args.truth)[0])
    heldout = ActivationStore.open(args.heldout) if args.heldout else None
    doublings = max([args.until_converged] + [job.until_converged for job in jobs])
    if doublings and any(job.sae.variant != UNTRAINED for job in jobs):  # an untrained SAE takes no step
        if heldout is None:
            raise ConfigError("--until-converged (or a spec's until_converged) reads the held-out training curve: "
                              "give --heldout")
        from saesanity.train_ladder import train_until_converged
        train_until_converged(jobs, ActivationStore.open(args.data), args.out, heldout, doublings, metadata,
                              args.threads, truth_FD)
        return
    train_saes(jobs, ActivationStore.open(args.data), args.out, metadata=metadata,
               threads=args.threads, truth_FD=truth_FD, heldout=heldout)


def add_train(sub: Subparsers) -> None:
    p = sub.add_parser("train", help="train one SAE, or several in one pass over the data, on an activation store")
    p.add_argument("--spec", required=True, help="JSON of saesanity.config.TrainJob, or a list of them with the "
                   "same seed and train settings (trained in one pass)")
    p.add_argument("--data", required=True, help="activation store folder")
    p.add_argument("--source", required=True, help="source name recorded in cfg.json (e.g. synthetic-constant)")
    p.add_argument("--truth", help="features.parquet of a synthetic store: the dictionary of the *-truth ceilings")
    p.add_argument("--heldout", help="held-out store: train_curve.csv (held-out EV and distance from the init "
                   "during training) beside train_log.csv")
    p.add_argument("--target-l0-from", help="a sanity check's reference.json: train to its target_l0 (the L0 of "
                   "the imported SAE on held-out data) instead of the spec's")
    p.add_argument("--until-converged", type=int, default=0, metavar="N",
                   help="retrain from scratch at twice the budget until every SAE's held-out curve meets "
                   "train.converged_ev_gain, at most N times (saesanity.train_ladder); 0: the spec's budget")
    p.add_argument("--out", required=True, nargs="+",
                   help="SAE folder(s) (cfg.json, sae_weights.safetensors, train_log.csv), one per spec")
    p.set_defaults(func=cmd_train)


COMMANDS: tuple[Command, ...] = (add_train,)
