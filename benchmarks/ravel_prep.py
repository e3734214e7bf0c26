"""RAVEL of one SAE with and without the shared preparation (rule ravel_prep): wall time and bytes.

    python benchmarks/ravel_prep.py --root /path/to/finished/build \
        --sae results/saes/smollm2-blocks.12.hook_resid_pre/batchtopk/trained/seed0

Runs the `python -m saesanity eval-ravel` command the rule runs, first alone (it runs the prompts through the
model itself, as every eval_ravel job did before ravel_prep), then `ravel-prep` once and `eval-ravel --prep`;
prints the three wall times (process start included, as in a build), the ratio of a job with the preparation
to one without, and checks that both ravel.json files have the same bytes. The model, the cities and the SAE
are read from --root (a finished build of the config); outputs go to a temporary folder.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from snakemake.utils import validate

from saesanity.pipeline.paths import split_lm_source
from saesanity.pipeline.specs import ravel_spec

REPO = Path(__file__).resolve().parents[1]


def timed(args: list[str], root: Path, threads: int) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "saesanity", "--threads", str(threads), *args], cwd=root, check=True,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--root", type=Path, required=True, help="a finished build (model, cities and SAE are read)")
    p.add_argument("--config", type=Path, default=REPO / "config.yaml")
    p.add_argument("--sae", required=True, help="the SAE folder, relative to --root")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    config = yaml.safe_load(args.config.read_text())
    validate(config, str(REPO / "workflow/schemas/config.schema.yaml"), set_default=True)
    source = Path(args.sae).parts[2]
    split_lm_source(source)  # a language-model SAE's folder: results/saes/<model>-<hook>/...
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        alone = timed(["eval-ravel", "--sae", args.sae, "--spec", ravel_spec(config, source),
                       "--out", str(out / "alone.json")], args.root, args.threads)
        prep = timed(["ravel-prep", "--spec", ravel_spec(config, source, prep=True), "--out", str(out / "prep")],
                     args.root, args.threads)
        shared = timed(["eval-ravel", "--sae", args.sae, "--spec", ravel_spec(config, source), "--prep",
                        str(out / "prep"), "--out", str(out / "shared.json")], args.root, args.threads)
        same = (out / "alone.json").read_bytes() == (out / "shared.json").read_bytes()
    print(f"eval-ravel alone {alone:.1f} s | ravel-prep {prep:.1f} s | eval-ravel --prep {shared:.1f} s | "
          f"with/without {shared / alone:.2f} | same bytes: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
