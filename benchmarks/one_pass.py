"""Several SAEs trained one by one against one pass over the data (`saes.<group>.one_pass`): wall time and bytes.

    python benchmarks/one_pass.py --root /path/to/finished/build --source synthetic-constant --seed 1
    python benchmarks/one_pass.py --root /path/to/finished/build --source toyworld-blocks.1.hook_resid_pre --seed 0 --arch topk

Runs the `python -m saesanity train` commands the rules run, for the SAEs of one seed (and architecture) of
the config: first one process per SAE, then one process for all of them; prints both wall times (process
start included, as in a build) and checks that every file of every SAE folder has the same bytes. The
activation store is read from --root (a finished build); outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from snakemake.utils import validate

from saesanity.pipeline import jobs, paths
from saesanity.pipeline.specs import train_spec

REPO = Path(__file__).resolve().parents[1]


def folder_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def train(specs: list[str], data: Path, source: str, outs: list[Path], threads: int) -> float:
    spec = specs[0] if len(specs) == 1 else "[" + ",".join(specs) + "]"
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "saesanity", "--threads", str(threads), "train", "--spec", spec,
                    "--data", str(data), "--source", source, "--out", *map(str, outs)],
                   check=True, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="a finished build (its activation stores are read)")
    p.add_argument("--config", type=Path, default=REPO / "config.yaml")
    p.add_argument("--source", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--arch", help="only this architecture (the arch_seed grouping); default every one")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    config = yaml.safe_load(args.config.read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    keys = [k for k in jobs.sae_keys(config, args.source)
            if k.seed == args.seed and args.arch in (None, k.arch)]
    if not keys:
        sys.exit(f"no SAE of {args.source} with seed {args.seed}" + (f" and arch {args.arch}" if args.arch else ""))
    specs = [train_spec(config, k.source, k.arch, k.variant, k.seed) for k in keys]
    data = args.root / paths.activation_store(args.source, "activations")
    with tempfile.TemporaryDirectory() as tmp:
        alone = [Path(tmp, "alone", k.path) for k in keys]
        together = [Path(tmp, "together", k.path) for k in keys]
        for d in alone + together:
            d.mkdir(parents=True)
        t_alone = sum(train([s], data, args.source, [d], args.threads) for s, d in zip(specs, alone))
        t_together = train(specs, data, args.source, together, args.threads)
        same = [folder_hashes(a) == folder_hashes(b) for a, b in zip(alone, together)]
    print(json.dumps({"source": args.source, "seed": args.seed, "arch": args.arch, "n_saes": len(keys),
                      "one_by_one_s": round(t_alone, 1), "one_pass_s": round(t_together, 1),
                      "saving": round(1 - t_together / t_alone, 3), "identical_bytes": all(same)}))
    return 0 if all(same) else 1


if __name__ == "__main__":
    sys.exit(main())
