"""Training speed side by side with SAELens: same architecture, sizes, batch, optimiser and activations, one run.

    benchmarks/vs_saelens.sh                      # installs SAELens into benchmarks/.venv-saelens, then runs this
    benchmarks/vs_saelens.sh --threads 2 --json benchmarks/out/vs_saelens_2t.json

For each size (d_in 512 with 4,096 and 16,384 latents, and the synthetic d 100 x 3,200) and architecture, both
libraries start from the same weights (ours, initialised as train_sae does) and take their training steps on
the same batches, interleaved step by step with a reference matmul, so that all three sample the same stretch
of this (shared, noisy) machine's time:
  ours     saesanity.train.train_step: forward, loss, NaN/Inf check, backward, parallel-gradient removal,
           AdamW, decoder renormalisation, after-step;
  SAELens  sae_lens.SAETrainer.step: forward, firing statistics, backward, gradient clipping, Adam, the
           lr and coefficient schedulers. Configured as our SAE: TopK/BatchTopK with
           rescale_acts_by_decoder_norm=False (our decoder rows are unit norm), JumpReLU with our bandwidth,
           threshold and L0 coefficient, ReLU as SAELens's 'standard' SAE with our L1 coefficient. For TopK and
           BatchTopK, SAELens runs with and without use_sparse_activations; both are printed, and the ratio
           is against the faster.
  matmul   one [B, d_in] @ [d_in, d_sae] product into a preallocated output: the encoder's forward, the one
           dense product a sparse step cannot avoid (our TopK/BatchTopK/ReLU/JumpReLU steps differentiate only
           the selected latents; saesanity.sae.sparse). 'x mm' = step time / this; SAELens's dense step does
           six such products, so its floor is 6.
Absolute rates vary between runs on a shared machine: read the ratios, which are measured together.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

# As `python -m saesanity` does (saesanity/__main__.py): huge pages for large tensors, set before torch
# allocates; THP_MEM_ALLOC_ENABLE=0 in the environment turns it off. It applies to both libraries here.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

import torch
from train_throughput import SIZES, Size, synthetic_data

from saesanity.config import SAEConfig, TrainConfig
from saesanity.sae.registry import build_sae
from saesanity.sae.variants import initialise
from saesanity.train import make_optimizer, train_step

try:
    import sae_lens
    from sae_lens import (BatchTopKTrainingSAE, BatchTopKTrainingSAEConfig, JumpReLUTrainingSAE,
                          JumpReLUTrainingSAEConfig, SAETrainer, StandardTrainingSAE, StandardTrainingSAEConfig,
                          TopKTrainingSAE, TopKTrainingSAEConfig)
    from sae_lens.config import SAETrainerConfig
except ImportError:
    sys.exit("sae_lens is not installed here: run benchmarks/vs_saelens.sh (it installs SAELens into "
             "benchmarks/.venv-saelens and runs this script with that environment's python)")

SEED = 0
ARCHS = ("topk", "batchtopk", "jumprelu", "relu")
BENCH_SIZES = {
    "512x4096": Size("512x4096", 512, 4096, 64, steps=5, warmup=1),
    "512x16384": Size("512x16384", 512, 16384, 64, steps=3, warmup=1),
    "synthetic": SIZES["synthetic"],
}


def ours(size: Size, arch: str, tc: TrainConfig, mean_D, cov_DD, sample_ND):
    cfg = SAEConfig(arch=arch, d_in=size.d_in, d_sae=size.d_sae, target_l0=size.k, seed=SEED)
    sae = build_sae(cfg)
    W0_FD = initialise(sae, mean_D, cov_DD, sample_ND)
    opt = make_optimizer(sae, tc)
    step_no = [0]

    def step(x_BD):
        train_step(sae, opt, x_BD, W0_FD, tc.lr, step_no[0])
        step_no[0] += 1
    return sae, step


def saelens(like, arch: str, tc: TrainConfig, total_samples: int, sparse: bool):
    """A SAELens training SAE with `like`'s weights and options, and its trainer's step."""
    common = dict(d_in=like.cfg.d_in, d_sae=like.cfg.d_sae, device="cpu", dtype="float32")
    if arch == "topk":
        sae = TopKTrainingSAE(TopKTrainingSAEConfig(k=like.k, rescale_acts_by_decoder_norm=False,
                                                    use_sparse_activations=sparse, **common))
    elif arch == "batchtopk":
        sae = BatchTopKTrainingSAE(BatchTopKTrainingSAEConfig(k=float(like.k), rescale_acts_by_decoder_norm=False,
                                                              use_sparse_activations=sparse, **common))
    elif arch == "jumprelu":
        sae = JumpReLUTrainingSAE(JumpReLUTrainingSAEConfig(
            jumprelu_bandwidth=like.opts.bandwidth * like.pre_scale, l0_coefficient=like.controller.coef,
            jumprelu_init_threshold=float(like.threshold.detach().mean()), **common))
    else:
        sae = StandardTrainingSAE(StandardTrainingSAEConfig(l1_coefficient=like.controller.coef, **common))
    with torch.no_grad():
        for name in ("W_enc", "b_enc", "W_dec", "b_dec") + (("threshold",) if arch == "jumprelu" else ()):
            getattr(sae, name).copy_(getattr(like, name))
    trainer = SAETrainer(cfg=SAETrainerConfig(total_training_samples=total_samples,
                                              train_batch_size_samples=tc.batch_size, lr=tc.lr, lr_end=tc.lr,
                                              adam_beta1=tc.betas[0], adam_beta2=tc.betas[1], device="cpu"),
                         sae=sae, data_provider=iter(()))
    return trainer.step


class Matmul:
    def __init__(self, B: int, d_in: int, d_sae: int):
        gen = torch.Generator().manual_seed(SEED)
        self.a, self.b = torch.randn(B, d_in, generator=gen), torch.randn(d_in, d_sae, generator=gen)
        self.out = torch.empty(B, d_sae)
        self()

    def __call__(self) -> float:
        t0 = time.perf_counter()
        torch.mm(self.a, self.b, out=self.out)
        return time.perf_counter() - t0


def timed(step, x_BD) -> float:
    t0 = time.perf_counter()
    step(x_BD)
    return time.perf_counter() - t0


def bench(size: Size, arch: str, B: int, steps: int, warmup: int) -> dict:
    tc = TrainConfig(batch_size=B)
    stats = synthetic_data(size, 8192, stream=0).double()
    mean_D, cov_DD, sample_ND = stats.mean(0).float(), torch.cov(stats.T, correction=0), stats.float()
    batches = list(synthetic_data(size, B * min(warmup + steps, 4), stream=1).split(B))
    sae, our_step = ours(size, arch, tc, mean_D, cov_DD, sample_ND)
    total = B * (warmup + steps + 1)
    variants = [False, True] if arch in ("topk", "batchtopk") else [False]
    theirs = {sparse: saelens(sae, arch, tc, total, sparse) for sparse in variants}
    mm = Matmul(B, size.d_in, size.d_sae)
    t = {"ours": [], "mm": [], **{sparse: [] for sparse in variants}}
    for i in range(warmup + steps):
        x_BD = batches[i % len(batches)]
        row = {"ours": timed(our_step, x_BD), **{s: timed(theirs[s], x_BD) for s in variants}, "mm": mm()}
        if i >= warmup:
            for key, value in row.items():
                t[key].append(value)
    med = {key: statistics.median(v) for key, v in t.items()}
    best = min(variants, key=lambda s: med[s])
    return {"size": size.name, "d_in": size.d_in, "d_sae": size.d_sae, "k": size.k, "arch": arch, "batch": B,
            "threads": torch.get_num_threads(), "steps": steps, "warmup": warmup,
            "ours_samples_per_s": B / med["ours"], "saelens_samples_per_s": B / med[False],
            "saelens_sparse_samples_per_s": B / med[True] if True in med else None,
            "ratio": med[best] / med["ours"], "matmul_s": med["mm"], "ours_x_mm": med["ours"] / med["mm"],
            "saelens_x_mm": med[best] / med["mm"], "times_s": {str(k): v for k, v in t.items()}}


HEADER = ("size", "arch", "ours/s", "SAELens/s", "SL sparse/s", "ratio", "ours x mm", "SAELens x mm")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--sizes", default=",".join(BENCH_SIZES), help=f"comma separated, of {list(BENCH_SIZES)}")
    p.add_argument("--archs", default=",".join(ARCHS))
    p.add_argument("--steps", type=int, default=None, help="timed steps (default 3 at 16,384 latents, else 5)")
    p.add_argument("--json", metavar="PATH")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    print(f"saesanity vs SAELens {sae_lens.__version__}: batch {args.batch}, threads {torch.get_num_threads()}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs", flush=True)
    rows, t0 = [], time.perf_counter()
    for name in args.sizes.split(","):
        size = BENCH_SIZES[name]
        for arch in args.archs.split(","):
            r = bench(size, arch, args.batch, args.steps or size.steps, size.warmup)
            rows.append(r)
            print(f"  {size.name} {arch}: ours {r['ours_samples_per_s']:.0f}/s, SAELens "
                  f"{r['saelens_samples_per_s']:.0f}/s", file=sys.stderr, flush=True)
    table = [HEADER] + [(f"{r['d_in']}x{r['d_sae']} k{r['k']}", r["arch"], f"{r['ours_samples_per_s']:.0f}",
                         f"{r['saelens_samples_per_s']:.0f}",
                         "-" if r["saelens_sparse_samples_per_s"] is None else f"{r['saelens_sparse_samples_per_s']:.0f}",
                         f"{r['ratio']:.2f}", f"{r['ours_x_mm']:.2f}", f"{r['saelens_x_mm']:.2f}") for r in rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER))]
    print()
    for j, r in enumerate(table):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print(f"\nSAELens/s: its default; SL sparse/s: with use_sparse_activations (TopK, BatchTopK). ratio = our "
          f"samples/s over SAELens's faster setting; 'x mm' = step time over one [B, d_in] @ [d_in, d_sae] matmul "
          f"measured between the steps (SAELens: its faster setting) ({time.perf_counter() - t0:.0f} s)")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"saelens": sae_lens.__version__, "torch": torch.__version__, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
