"""Freed memory kept in the process (saesanity.memory) against glibc's defaults: one training job, whole
processes, paired.

`python -m saesanity train` runs alternately with and without keep_freed_memory (the second with
SAESANITY_KEEP_FREED_MEMORY=0), `--reps` pairs, on a language-model-like store (d 576, built here with the
package's writer as in benchmarks/train_end_to_end.py) or on `--store` (say a harvest's activations), at
576 x 4,608 by default with its held-out curve on, as the default build trains SmolLM2. Printed per pair and
as medians: wall, user and system seconds and peak resident memory of the child process, and the ratios
kept / default (below 1: faster; above 1 for memory: the price). The two runs must give the same weights;
the script checks it.

    python benchmarks/freed_memory.py                            # BatchTopK, 3 pairs
    python benchmarks/freed_memory.py --store results/activations/smollm2/blocks.12.hook_resid_pre \\
        --heldout results/activations/smollm2/heldout/blocks.12.hook_resid_pre --samples 393216
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import saesanity
from saesanity.memory import OFF_SWITCH

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_end_to_end import build_store  # noqa: E402


def run_job(spec: dict, store: Path, heldout: Path, out: Path, keep: bool) -> dict:
    """Wall, user, system seconds and peak resident MB of one `python -m saesanity train` process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(saesanity.__file__).parents[1]), env.get("PYTHONPATH", "")])
    env[OFF_SWITCH] = "1" if keep else "0"
    cmd = [sys.executable, "-m", "saesanity", "--threads", "1", "train", "--spec", json.dumps(spec),
           "--data", str(store), "--heldout", str(heldout), "--source", "bench", "--out", str(out)]
    t0 = os.times()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = os.times().elapsed - t0.elapsed
    if status != 0:
        raise SystemExit(f"the training job failed (status {status}): {' '.join(cmd)}")
    return {"wall": wall, "user": usage.ru_utime, "sys": usage.ru_stime, "rss_mb": usage.ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--store", type=Path, help="activation store (default: an LM-like one built here)")
    p.add_argument("--heldout", type=Path, help="held-out store for the curve (default: --store)")
    p.add_argument("--arch", default="batchtopk")
    p.add_argument("--d-sae", type=int, default=4608)
    p.add_argument("--k", type=int, default=40)
    p.add_argument("--samples", type=int, default=102_400)
    p.add_argument("--rows", type=int, default=131_072, help="rows of the built store")
    p.add_argument("--reps", type=int, default=3)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="saesanity-mem-") as tmp_name:
        tmp = Path(tmp_name)
        store = args.store or build_store("lm", tmp, args.rows)
        heldout = args.heldout or store
        d_in = json.loads((Path(store) / "meta.json").read_text())["d"]
        spec = {"sae": {"arch": args.arch, "d_in": d_in, "d_sae": args.d_sae, "target_l0": args.k, "seed": 0},
                "train": {"n_samples": args.samples, "batch_size": 1024, "curve_points": 16, "curve_rows": 8192}}
        print(f"{args.arch} {d_in} x {args.d_sae}, k {args.k}, {args.samples:,} samples, curve 16 x 8,192 rows; "
              f"pairs of (kept, default)", flush=True)
        rows = []
        for i in range(args.reps):
            kept = run_job(spec, store, heldout, tmp / "kept", keep=True)
            default = run_job(spec, store, heldout, tmp / "default", keep=False)
            same = filecmp.cmp(tmp / "kept" / "sae_weights.safetensors", tmp / "default" / "sae_weights.safetensors",
                               shallow=False)
            if not same:
                raise SystemExit("the two runs gave different weights")
            rows.append((kept, default))
            print(f"  pair {i + 1}: " + "  ".join(f"{k} {kept[k]:.1f} / {default[k]:.1f}" for k in kept), flush=True)
    print("median of kept / default per pair (same weights in every pair):")
    for k in ("wall", "user", "sys", "rss_mb"):
        ratio = statistics.median(a[k] / b[k] for a, b in rows)
        print(f"  {k:7s} {statistics.median(a[k] for a, _ in rows):8.1f} / "
              f"{statistics.median(b[k] for _, b in rows):8.1f}   ratio {ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
