"""MCC at scale: the sparse matching (saesanity.evals.consistency.sparse_matching) against the exact Hungarian one.

Cases (each measured in a fresh subprocess, so that its peak resident memory is its own):
- sparse (first: the headline): two dictionaries of --latents rows of dimension --d, either independent random (the hard case:
  many near-equal candidates) or a perturbed, permuted copy of one another (each row's noise level drawn in
  [0.3, 1.5], so matched cosines spread over about 0.55 to 0.96: a non-trivial matching). Prints the time,
  peak memory, MCC, the certificate (an upper bound on the optimum) and its gap.
- exact vs sparse at --exact-sizes (8,192 and 16,384 by default): the exact method's time and memory for the
  scaling curve, and the difference between the two MCCs (the acceptance asks for < 1e-3).

The issue's goal is the full size in under 15 minutes and 16 GB on 2 cores (arXiv 2501.16615 reports 8 hours
and over 300 GB for the Hungarian matching at 131k). The exact method's time grows about cubically: the
ratio of its two sizes' times, printed, is the exponent's evidence.

    python benchmarks/mcc_scale.py                                  # the acceptance run (13 min on 2 cores)
    python benchmarks/mcc_scale.py --latents 16384 --exact-sizes 2048 4096    # quick (about a minute)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np
import torch


def dictionaries(kind: str, n: int, d: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Two [n, d] float32 dictionaries: independent ('random') or a noisy permuted copy ('perturbed')."""
    gen = torch.Generator().manual_seed(seed)
    A = torch.randn(n, d, generator=gen)
    A /= A.norm(dim=1, keepdim=True)
    if kind == "random":
        B = torch.randn(n, d, generator=gen)
    else:
        sigma = 0.3 + 1.2 * torch.rand(n, 1, generator=gen)
        B = A[torch.randperm(n, generator=gen)]
        B += sigma * torch.randn(n, d, generator=gen) / d ** 0.5
    return A, B


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux reports KiB


def run_case(method: str, kind: str, n: int, d: int, candidates: int) -> dict:
    from saesanity.evals.consistency.mcc import exact_mcc
    from saesanity.evals.consistency.sparse_matching import sparse_mcc
    A, B = dictionaries(kind, n, d)
    t0 = time.perf_counter()
    if method == "exact":
        m = exact_mcc(A.numpy(), B.numpy())
    else:
        m = sparse_mcc(A.numpy(), B.numpy(), candidates=candidates)
    return {"method": method, "kind": kind, "n": n, "d": d, "seconds": time.perf_counter() - t0,
            "peak_gb": peak_rss_gb(), "mcc": m.mcc, "upper_bound": m.upper_bound, "gap": m.gap}


def in_subprocess(args: argparse.Namespace, method: str, kind: str, n: int) -> dict:
    cmd = [sys.executable, __file__, "--one", method, kind, str(n), "--d", str(args.d), "--threads",
           str(args.threads), "--candidates", str(args.candidates)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def show(r: dict) -> None:
    print(f"{r['method']:>6} {r['kind']:>9} {r['n']:>7} x {r['d']}: {r['seconds']:8.1f} s, peak "
          f"{r['peak_gb']:5.2f} GB, MCC {r['mcc']:.6f}, upper bound {r['upper_bound']:.6f}, gap {r['gap']:.2e}",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latents", type=int, default=131_072)
    p.add_argument("--d", type=int, default=2304)
    p.add_argument("--exact-sizes", type=int, nargs="*", default=[8192, 16384])
    p.add_argument("--kinds", nargs="+", default=["random", "perturbed"])
    p.add_argument("--candidates", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--one", nargs=3, metavar=("METHOD", "KIND", "N"), help=argparse.SUPPRESS)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        method, kind, n = args.one
        print(json.dumps(run_case(method, kind, int(n), args.d, args.candidates)))
        return
    print(f"d {args.d}, {args.threads} threads, {args.candidates} candidates per row and column", flush=True)
    print(f"# sparse at {args.latents} (goal: < 15 min, < 16 GB on 2 cores)", flush=True)
    for kind in args.kinds:
        r = in_subprocess(args, "sparse", kind, args.latents)
        show(r)
        ok = "OK" if r["seconds"] < 900 and r["peak_gb"] < 16 else "OVER"
        print(f"  {r['seconds'] / 60:.1f} min, {r['peak_gb']:.1f} GB: {ok}", flush=True)
    print("# exact vs sparse", flush=True)
    exact_times = {}
    for n in args.exact_sizes:
        for kind in args.kinds:
            e, s = in_subprocess(args, "exact", kind, n), in_subprocess(args, "sparse", kind, n)
            show(e)
            show(s)
            exact_times.setdefault(n, e["seconds"])
            ok = "OK" if abs(e["mcc"] - s["mcc"]) < 1e-3 and s["upper_bound"] >= e["mcc"] - 1e-6 else "FAIL"
            print(f"  |exact - sparse| = {abs(e['mcc'] - s['mcc']):.2e} (< 1e-3), bound - exact = "
                  f"{s['upper_bound'] - e['mcc']:.2e} (>= 0): {ok}; sparse is {e['seconds'] / s['seconds']:.1f}x "
                  "faster", flush=True)
    sizes = sorted(exact_times)
    if len(sizes) >= 2:
        lo, hi = sizes[0], sizes[-1]
        slope = np.log(exact_times[hi] / exact_times[lo]) / np.log(hi / lo)
        print(f"exact time grows as n^{slope:.2f} between {lo} and {hi} (random)", flush=True)


if __name__ == "__main__":
    main()
