"""Training throughput of every SAE architecture, as a fraction of the machine's dense matmul rate.

Prints, for each size and architecture of saesanity.sae.registry.ARCHITECTURES, the samples/s of one
training step next to the dense matmul rate measured in the same run, with the same thread count,
interleaved with that architecture's steps (two calls just before them, then one after each timed step, so
that the reference samples the same stretch of time as the steps). The machines this runs on are noisy
(shared, virtualised CPUs; the matmul rate drifts by tens of percent within a run), so no absolute figure is
asserted or compared across runs: the figures to read are the ratios against that in-run reference.

One training step is saesanity.train.train_step, the function train_sae calls per batch: forward, loss,
NaN/Inf check, backward, the decoder's parallel-gradient removal, the AdamW step, the decoder's
renormalisation (and cone projection) and the architecture's after-step.

Not timed: reading and shuffling batches from the activation store (the data here is in memory) and the
train_log row written every `log_every` steps. The SAE is built with build_sae(SAEConfig(...)) and
initialised with saesanity.sae.variants.initialise from the mean and covariance of 8192 rows and those
rows as the calibration sample (as train_sae does), drawn like the
synthetic data set (saesanity.data.synthetic: non-negative log-normal combinations of unit features, each
firing with probability k / d_sae, so about k features per sample; fixed seed); it is trained with AdamW
(TrainConfig's defaults). The timed steps see other batches from the same distribution.

The reference. With B = batch, D = d_in, F = d_sae, the dense matmul rate is the median GFLOP/s of the
interleaved calls of [B, D] @ [D, F] (2 B D F flops each, into a preallocated output). A dense SAE step does
six such products (the encoder's and the decoder's forward, and four in the backward), but a step of ours
needs only one of them in full: the encoder's forward, since the selection (top-k, ReLU, JumpReLU's
threshold) reads every pre-activation. Every other product involves only the selected latents and runs on
them alone (saesanity.sae.sparse), so the unavoidable dense matmul time of a step is one such product.
Everything else (the selection, the sparse products, losses, AdamW, renormalising the decoder) is overhead;
it is memory-bound, so it weighs more at small d_in, where each [B, F] tensor carries only D flops of
matmul per element. TopK/BatchTopK's AuxK decode touches no dead latents here (a latent is dead only after
`dead_after` samples without firing, far more than a benchmark's few steps), so it costs nothing.

Columns: samples/s = B / median step time; "x matmul" = step time / unavoidable dense matmul time (1.0 would
be a step that does nothing but its dense products at the reference rate); "of peak" = its inverse, i.e.
samples/s / (samples/s if the step took only the unavoidable matmuls).

    python benchmarks/train_throughput.py                      # both sizes, all architectures, 1 thread
    python benchmarks/train_throughput.py --quick              # tiny smoke check (seconds)
    python benchmarks/train_throughput.py --sizes large --archs topk,relu --threads 2 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

# As `python -m saesanity` does (saesanity/__main__.py): huge pages for large tensors, set before torch
# allocates; THP_MEM_ALLOC_ENABLE=0 in the environment turns it off.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from saesanity.memory import keep_freed_memory  # noqa: E402

keep_freed_memory()  # as `python -m saesanity` does; SAESANITY_KEEP_FREED_MEMORY=0 turns it off

import numpy as np  # noqa: E402
import torch  # noqa: E402

from saesanity.config import VARIANTS, ProbabilityModel, SAEConfig, SyntheticConfig, TrainConfig
from saesanity.data.synthetic import firing_probabilities, ground_truth_directions, sample_activations
from saesanity.sae.registry import ARCHITECTURES, build_sae
from saesanity.sae.variants import initialise
from saesanity.train import lr_at, make_optimizer, train_step


@dataclass(frozen=True)
class Size:
    name: str
    d_in: int
    d_sae: int
    k: int
    steps: int
    """Timed steps when --steps is not given."""
    warmup: int
    """Untimed steps when --warmup is not given."""

    @property
    def label(self) -> str:
        return f"{self.d_in}x{self.d_sae} k{self.k}"


# The synthetic data set of arXiv 2602.14111 (d 100, 3200 features, L0 20) and an LLM-like size. The large
# size runs 3 steps and no warm-up by default, to keep the default run under about 3 minutes: its step is
# 5-10 s on one core, and its first step measured no slower than the later ones (the one-time costs, AdamW's
# state and the first matmul calls, are small next to it; the reference has already warmed the matmul).
SIZES = {
    "synthetic": Size("synthetic", 100, 3200, 20, steps=5, warmup=2),
    "large": Size("large", 512, 16384, 64, steps=3, warmup=0),
    "tiny": Size("tiny", 16, 256, 4, steps=3, warmup=1),
}
DEFAULT_SIZES = ("synthetic", "large")
QUICK_BATCH = 256
STATS_SAMPLES = 8192
"""Rows for the init mean and covariance, and the calibration sample (train_sae takes its statistics from
TrainConfig.stats_samples rows and calibrates on the first CALIBRATION_ROWS = 8192 of them)."""
REF_BEFORE = 2
"""Timed reference matmuls before each row's steps (then one after each timed step)."""
SEED = 0


def parse_size(text: str) -> Size:
    if text in SIZES:
        return SIZES[text]
    try:
        d_in, d_sae, k = (int(v) for v in text.split(":"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r}: expected one of {sorted(SIZES)} or D_IN:D_SAE:K") from None
    if not (0 < k <= d_sae and d_in > 0):
        raise argparse.ArgumentTypeError(f"size {text!r}: need d_in > 0 and 0 < k <= d_sae")
    return Size(text, d_in, d_sae, k, steps=5, warmup=2)


def split_list(values: list[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.split(",") if v]


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--batch", type=positive, default=None,
                   help=f"samples per step (default 4096; {QUICK_BATCH} with --quick)")
    p.add_argument("--steps", type=positive, default=None,
                   help="timed steps per architecture (default 5; 3 at the large size)")
    p.add_argument("--warmup", type=non_negative, default=None,
                   help="untimed steps before them (default 2; 0 at the large size)")
    p.add_argument("--threads", type=positive, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument("--sizes", nargs="+", default=None, metavar="SIZE",
                   help=f"names ({', '.join(SIZES)}) or D_IN:D_SAE:K, comma or space separated "
                        f"(default {','.join(DEFAULT_SIZES)}; tiny with --quick)")
    p.add_argument("--archs", nargs="+", default=None, metavar="ARCH",
                   help=f"comma or space separated (default all: {','.join(ARCHITECTURES)})")
    p.add_argument("--variant", default="trained", choices=VARIANTS, help="SAE variant (default trained)")
    p.add_argument("--quick", action="store_true", help="tiny size and batch, for a smoke check")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    args = p.parse_args(argv)
    try:
        args.sizes = [parse_size(s) for s in split_list(args.sizes)] or \
            [SIZES[s] for s in (("tiny",) if args.quick else DEFAULT_SIZES)]
    except argparse.ArgumentTypeError as err:
        p.error(str(err))
    args.archs = split_list(args.archs) or list(ARCHITECTURES)
    unknown = [a for a in args.archs if a not in ARCHITECTURES]
    if unknown:
        p.error(f"unknown architecture(s) {unknown}; known: {list(ARCHITECTURES)}")
    if args.batch is None:
        args.batch = QUICK_BATCH if args.quick else 4096
    return args


def dense_products(variant: str) -> int:
    """[B, d_in] x [d_in, d_sae] products a step cannot avoid: the encoder's forward, for every variant
    (see the module docstring)."""
    return 1


def synthetic_data(size: Size, n: int, stream: int) -> torch.Tensor:
    """[n, d_in] float32 rows drawn like saesanity's synthetic data, with about k features per row."""
    cfg = SyntheticConfig(probability=ProbabilityModel("constant", p=size.k / size.d_sae),
                          d=size.d_in, n_features=size.d_sae, seed=SEED)
    rng = np.random.default_rng([SEED, stream])
    x = sample_activations(rng, n, ground_truth_directions(cfg), firing_probabilities(cfg), cfg)
    return torch.from_numpy(x)


class MatmulReference:
    """The dense matmul rate: [batch, d_in] @ [d_in, d_sae] on fixed random operands, one call at a time, so
    that calls can be interleaved with the training steps and sample the same stretch of (noisy) time."""

    def __init__(self, batch: int, d_in: int, d_sae: int):
        gen = torch.Generator().manual_seed(SEED)
        self.a = torch.randn(batch, d_in, generator=gen)
        self.b = torch.randn(d_in, d_sae, generator=gen)
        self.out = torch.empty(batch, d_sae)
        self.flops = 2 * batch * d_in * d_sae
        self.call()  # untimed: first-call costs (MKL setup, first touch of the output's pages)

    def call(self) -> float:
        # Into a preallocated output, as the trainer's encoder does: a fresh [B, F] tensor per call would
        # add its page faults to the reference.
        t0 = time.perf_counter()
        torch.mm(self.a, self.b, out=self.out)
        return time.perf_counter() - t0

    def gflops(self, times: list[float]) -> float:
        """GFLOP/s at the median of `times`."""
        return self.flops / statistics.median(times) / 1e9


def time_training(arch: str, size: Size, variant: str, batches: list[torch.Tensor], mean_D: torch.Tensor,
                  cov_DD: torch.Tensor, sample_ND: torch.Tensor, warmup: int, steps: int,
                  between: Callable[[], object]) -> tuple[list[float], list[float]]:
    """Seconds of each of `warmup` untimed then `steps` timed training steps; `between()` runs after each
    timed step, outside its timing."""
    tc = TrainConfig(batch_size=len(batches[0]))
    cfg = SAEConfig(arch=arch, d_in=size.d_in, d_sae=size.d_sae, target_l0=size.k, variant=variant, seed=SEED)
    sae = build_sae(cfg)
    W0_FD = initialise(sae, mean_D, cov_DD, sample_ND)  # as train_sae does
    opt = make_optimizer(sae, tc)
    n_steps = warmup + steps
    times: list[float] = []
    for step in range(n_steps):
        x_BD = batches[step % len(batches)]
        t0 = time.perf_counter()
        out = train_step(sae, opt, x_BD, W0_FD, lr_at(step, n_steps, tc), step)
        times.append(time.perf_counter() - t0)
        del out
        if step >= warmup:
            between()
    return times[:warmup], times[warmup:]


HEADER = ("size", "arch", "samples/s", "step ms", "matmul GFLOP/s", "x matmul", "of peak")


def fmt_gflops(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.3g}"


def format_row(row: dict) -> tuple[str, ...]:
    return (row["size"], row["arch"], f"{row['samples_per_s']:.0f}", f"{row['step_ms']:.1f}",
            fmt_gflops(row["matmul_gflops"]), f"{row['step_over_matmul']:.2f}", f"{row['fraction_of_peak']:.3f}")


def print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    for j, r in enumerate(rows):
        print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    n_products = dense_products(args.variant)
    B = args.batch
    print(f"saesanity training throughput: batch {B}, threads {torch.get_num_threads()}, variant {args.variant}, "
          f"torch {torch.__version__}, {os.cpu_count()} CPUs")
    print(f"reference: median GFLOP/s of [batch, d_in] @ [d_in, d_sae] in this run, same threads, interleaved "
          f"with each row's steps;\nunavoidable step time = {n_products} such products (2*B*d_in*d_sae flops each) "
          f"at that rate", flush=True)
    results = []
    table = [HEADER]
    t_start = time.perf_counter()
    for size in args.sizes:
        steps = args.steps or size.steps
        warmup = size.warmup if args.warmup is None else args.warmup
        # Stats from one stream, the batches from another; a few distinct batches are cycled.
        stats_x = synthetic_data(size, STATS_SAMPLES, stream=0).double()
        mean_D = stats_x.mean(0).float()
        cov_DD = torch.cov(stats_x.T, correction=0)
        sample_ND = stats_x.float()
        n_batches = min(warmup + steps, 4)
        batches = list(synthetic_data(size, B * n_batches, stream=1).split(B))
        ref = MatmulReference(B, size.d_in, size.d_sae)
        for arch in args.archs:
            # Reference calls: REF_BEFORE just before the row's steps, then one after each timed step.
            mm_times = [ref.call() for _ in range(REF_BEFORE)]
            warm_times, step_times = time_training(arch, size, args.variant, batches, mean_D, cov_DD, sample_ND,
                                                   warmup, steps, between=lambda: mm_times.append(ref.call()))
            gflops = ref.gflops(mm_times)
            step_s = statistics.median(step_times)
            unavoidable_s = n_products * ref.flops / (gflops * 1e9)
            row = {"size": size.label, "size_name": size.name, "d_in": size.d_in, "d_sae": size.d_sae,
                   "k": size.k, "arch": arch, "variant": args.variant, "batch": B, "threads": args.threads,
                   "warmup": warmup, "steps": steps,
                   "samples_per_s": B / step_s, "step_ms": 1e3 * step_s, "step_times_s": step_times,
                   "warmup_times_s": warm_times,
                   "matmul_gflops": gflops, "matmul_times_s": mm_times, "dense_products": n_products,
                   "unavoidable_matmul_ms": 1e3 * unavoidable_s,
                   "step_over_matmul": step_s / unavoidable_s, "fraction_of_peak": unavoidable_s / step_s}
            results.append(row)
            table.append(format_row(row))
            print(f"  {size.label} {arch}: {row['step_ms']:.1f} ms/step, {row['fraction_of_peak']:.3f} of peak",
                  file=sys.stderr, flush=True)
            gc.collect()
        del batches, stats_x, sample_ND, ref
        gc.collect()
    print()
    print_table(table)
    total_s = time.perf_counter() - t_start
    print(f"\n'x matmul' = median step time / ({n_products} x one [batch, d_in] @ [d_in, d_sae] at the reference "
          f"rate); 'of peak' = its inverse. Ratios only: absolute rates vary from run to run. ({total_s:.0f} s)")
    if args.json:
        payload = {"meta": {"argv": sys.argv[1:] if argv is None else argv, "batch": B, "threads": args.threads,
                            "variant": args.variant, "dense_products": n_products,
                            "torch": torch.__version__, "python": platform.python_version(),
                            "machine": platform.machine(), "cpu_count": os.cpu_count(),
                            "total_s": total_s},
                   "rows": results}
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=1)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
