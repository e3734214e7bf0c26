"""End to end: the training job's rate beside its bare step's and the one-matmul limit, in one run.

For each store and architecture, three rates are measured in turn, repeated `--reps` times (A, B, C, A, B,
C, ...), so that all three sample the same stretch of a noisy machine's time:

  job    `python -m saesanity --threads T train` on the store, a subprocess run twice: with `--samples`
         samples and with two batches. samples/s = (samples - 2 batches) / (the difference of the two wall
         times): the training loop's rate, with process start-up, the statistics, the init and the saving
         (the "fixed" seconds, also printed) taken out. "whole" is samples / the long run's wall time.
  step   saesanity.train.train_step alone, in this process, on batches already in memory (the same store,
         statistics, init, scale and data order as the job; what benchmarks/train_throughput.py times).
  limit  one [batch, d_in] @ [d_in, d_sae] matmul (the encoder's forward, the one product a step cannot
         avoid) at the rate measured between the steps: the fastest a step could be.

Each is measured with the compiled kernels off (SAESANITY_KERNELS=0: the torch operators they stand in for,
the same bytes) and on, in alternating rounds (`--kernels both`, the default), so the speed-up they bring is
read within one run.

Ratios: "job/step" (1.0: reading, shuffling, scaling and logging batches cost nothing beside the step) and
"step/limit" (1.0: a step that does nothing but its one unavoidable matmul), each taken within a round and
its median over the rounds printed (the rates printed are medians too). Absolute rates move by tens of
percent between runs on a shared machine; read the ratios.

By default the stores are built in a temporary folder with the package's own writers: the synthetic set of
arXiv 2602.14111 (d 100, 3,200 features, constant p = 20 / 3,200, float32) trained at 100 x 3,200, k 20,
and a language-model-like store (d 576, float32 rows of random directions with log-normal norms and a few
large dimensions, like a residual stream) trained at 576 x 4,608, k 64. `--store PATH` times a real store
instead (say a harvest's `activations/`), at `--d-sae` and `--k`.

    python benchmarks/train_end_to_end.py                         # both stores, TopK, BatchTopK, JumpReLU
    python benchmarks/train_end_to_end.py --stores synthetic --archs topk --reps 2
    python benchmarks/train_end_to_end.py --store results/lm/activations --d-sae 4608 --k 64 --batch 4096
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # as `python -m saesanity` does, before torch allocates

from saesanity.memory import keep_freed_memory  # noqa: E402

keep_freed_memory()  # as the job does, so that the bare step and the job allocate alike

import numpy as np  # noqa: E402
import torch  # noqa: E402

import saesanity
from saesanity.config import ProbabilityModel, SAEConfig, SyntheticConfig, TrainConfig, TrainJob
from saesanity.data.store import ActivationStore, ShardWriter, shuffled_batches
from saesanity.data.synthetic import generate
from saesanity.sae import kernels
from saesanity.train import _DATA_ORDER, _Run, lr_at, train_step, training_stats

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_throughput import MatmulReference  # noqa: E402

STORES = {"synthetic": (100, 3200, 20), "lm": (576, 4608, 64)}
"""Store name: (d_in, d_sae, k) trained on it."""
SEED = 0


def build_store(name: str, root: Path, rows: int) -> Path:
    if name == "synthetic":
        cfg = SyntheticConfig(probability=ProbabilityModel("constant", p=20 / 3200), n_samples=rows,
                              n_heldout=1024, seed=SEED)
        generate(cfg, root / name)
        return root / name / "activations"
    d, shard = STORES[name][0], 65_536
    rng = np.random.default_rng(SEED)
    writer = ShardWriter(root / name, d, "float32", {"model": "random-lm-like"})
    for start in range(0, rows, shard):
        n = min(shard, rows - start)
        x = rng.standard_normal((n, d), dtype=np.float32)
        x *= rng.lognormal(0, 0.5, (n, 1)).astype(np.float32)
        x[:, :4] += 20  # a few large dimensions, as residual streams have
        writer.write(x)
    writer.close()
    return root / name


def job_for(arch: str, d_in: int, d_sae: int, k: int, batch: int, n_samples: int) -> TrainJob:
    return TrainJob(SAEConfig(arch=arch, d_in=d_in, d_sae=d_sae, target_l0=k, seed=SEED),
                    TrainConfig(n_samples=n_samples, batch_size=batch))


def spec_json(job: TrainJob) -> str:
    sae, tc = job.sae, job.train
    return json.dumps({"sae": {"arch": sae.arch, "d_in": sae.d_in, "d_sae": sae.d_sae, "target_l0": sae.target_l0,
                               "seed": sae.seed},
                       "train": {"n_samples": tc.n_samples, "batch_size": tc.batch_size}})


def time_job(job: TrainJob, store: Path, out: Path, threads: int, kernels_on: bool) -> float:
    """Wall seconds of the whole `python -m saesanity train` process."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(Path(saesanity.__file__).parents[1]), env.get("PYTHONPATH", "")])
    env[kernels.OFF_SWITCH] = "1" if kernels_on else "0"
    cmd = [sys.executable, "-m", "saesanity", "--threads", str(threads), "train", "--spec", spec_json(job),
           "--data", str(store), "--source", "bench", "--out", str(out)]
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


@contextlib.contextmanager
def kernels_switched(on: bool):
    """The compiled kernels (saesanity.sae.kernels) on, or off as SAESANITY_KERNELS=0 turns them off."""
    library = kernels.library
    if not on:
        kernels.library = lambda: None
    try:
        yield
    finally:
        kernels.library = library


class BareStep:
    """The job's SAE, statistics and first batches, stepped with train_step alone."""

    def __init__(self, job: TrainJob, store: ActivationStore, n_batches: int):
        tc = job.train
        stats = training_stats(store, tc, SEED)
        self.run = _Run(job, stats, None, None)
        self.batches = [torch.from_numpy(x) * stats.scale for x in shuffled_batches(
            store, tc.batch_size, tc.shuffle_buffer, [SEED, _DATA_ORDER], n_batches * tc.batch_size)]
        self.n_steps, self.step_i = tc.n_samples // tc.batch_size, 0

    def step(self) -> float:
        run, i = self.run, self.step_i
        x = self.batches[i % len(self.batches)]
        t0 = time.perf_counter()
        train_step(run.sae, run.opt, x, run.W0_FD, lr_at(i, self.n_steps, run.job.train), i)
        self.step_i += 1
        return time.perf_counter() - t0


def measure(arch: str, store_path: Path, d_sae: int, k: int, args, tmp: Path) -> list[dict]:
    """One row per kernel setting; the settings' rounds interleave (off, on, off, on, ...)."""
    store = ActivationStore.open(store_path)
    B = args.batch
    long_job = job_for(arch, store.d, d_sae, k, B, args.samples)
    short_job = job_for(arch, store.d, d_sae, k, B, 2 * B)
    ref = MatmulReference(B, store.d, d_sae)
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.kernels]
    bare, times = {}, {}
    for on in settings:
        with kernels_switched(on):
            bare[on] = BareStep(long_job, store, n_batches=4)
            for _ in range(args.warmup):
                bare[on].step()
        times[on] = {"long": [], "short": [], "step": [], "matmul": []}
    for _ in range(args.reps):
        for on in settings:
            t = times[on]
            t["long"].append(time_job(long_job, store_path, tmp / "long", args.threads, on))
            t["short"].append(time_job(short_job, store_path, tmp / "short", args.threads, on))
            with kernels_switched(on):
                for _ in range(args.steps):
                    t["matmul"].append(ref.call())
                    t["step"].append(bare[on].step())
            t["matmul"].append(ref.call())
    return [summary(arch, store, d_sae, k, args, store_path, on, times[on]) for on in settings]


def summary(arch: str, store: ActivationStore, d_sae: int, k: int, args, store_path: Path, on: bool,
            t: dict) -> dict:
    # Rates per round, ratios per round, then medians: a ratio taken within one round is the least moved
    # by the machine's load drifting between rounds.
    B, n = args.batch, args.steps
    job_r = [(args.samples - 2 * B) / (lo - sh) for lo, sh in zip(t["long"], t["short"])]
    step_r = [B / statistics.median(t["step"][i * n:(i + 1) * n]) for i in range(args.reps)]
    limit_r = [B / statistics.median(t["matmul"][i * (n + 1):(i + 1) * (n + 1)]) for i in range(args.reps)]
    job_rate, step_rate, limit_rate = (statistics.median(r) for r in (job_r, step_r, limit_r))
    med = lambda a, b: statistics.median(x / y for x, y in zip(a, b))  # noqa: E731
    return {"store": store_path.name if args.store else args.current_store, "arch": arch, "d_in": store.d,
            "d_sae": d_sae, "k": k, "batch": B, "threads": args.threads, "samples": args.samples,
            "kernels": "on" if on else "off",
            "job_samples_per_s": job_rate, "job_whole_samples_per_s": args.samples / statistics.median(t["long"]),
            "fixed_s": statistics.median(t["short"]) - 2 * B / job_rate,
            "rounds": {"job": job_r, "step": step_r, "limit": limit_r},
            "step_samples_per_s": step_rate, "limit_samples_per_s": limit_rate,
            "job_over_step": med(job_r, step_r), "step_over_limit": med(step_r, limit_r),
            "job_over_limit": med(job_r, limit_r), "times_s": t}


HEADER = ("store", "size", "arch", "kernels", "job/s", "whole/s", "fixed s", "step/s", "limit/s", "job/step", "step/limit",
          "job/limit")


def row_cells(r: dict) -> tuple[str, ...]:
    return (r["store"], f"{r['d_in']}x{r['d_sae']} k{r['k']}", r["arch"], r["kernels"], f"{r['job_samples_per_s']:.0f}",
            f"{r['job_whole_samples_per_s']:.0f}", f"{r['fixed_s']:.1f}", f"{r['step_samples_per_s']:.0f}",
            f"{r['limit_samples_per_s']:.0f}", f"{r['job_over_step']:.2f}", f"{r['step_over_limit']:.2f}",
            f"{r['job_over_limit']:.2f}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--stores", default="synthetic,lm", help="built stores to time (synthetic, lm)")
    p.add_argument("--store", type=Path, help="time this store instead (needs --d-sae and --k)")
    p.add_argument("--d-sae", type=int)
    p.add_argument("--k", type=int)
    p.add_argument("--archs", default="topk,batchtopk,jumprelu")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--samples", type=int, default=None,
                   help="samples of the long job (default 300 batches at d_sae <= 3,200, else 100)")
    p.add_argument("--rows", type=int, default=262_144, help="rows of each built store")
    p.add_argument("--reps", type=int, default=3, help="rounds of (long job, short job, steps)")
    p.add_argument("--steps", type=int, default=5, help="timed bare steps per round")
    p.add_argument("--warmup", type=int, default=3, help="untimed bare steps first")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--kernels", choices=["both", "on", "off"], default="both",
                   help="the compiled kernels (saesanity.sae.kernels): off and on in alternating rounds (default), "
                        "or one of them")
    p.add_argument("--json", type=Path, help="also write the rows here")
    args = p.parse_args(argv)
    if args.store and not (args.d_sae and args.k):
        p.error("--store needs --d-sae and --k")
    torch.set_num_threads(args.threads)
    print(f"saesanity end to end: batch {args.batch}, threads {args.threads}, torch {torch.__version__}, "
          f"{os.cpu_count()} CPUs", flush=True)
    rows = []
    samples_arg = args.samples
    with tempfile.TemporaryDirectory(prefix="saesanity-e2e-") as tmp_name:
        tmp = Path(tmp_name)
        cases = ([(args.store, args.d_sae, args.k)] if args.store else
                 [(name, STORES[name][1], STORES[name][2]) for name in args.stores.split(",")])
        for store, d_sae, k in cases:
            path = store if args.store else build_store(store, tmp, args.rows)
            args.current_store = str(store)
            args.samples = samples_arg or args.batch * (300 if d_sae <= 3200 else 100)
            for arch in args.archs.split(","):
                for row in measure(arch, Path(path), d_sae, k, args, tmp):
                    rows.append(row)
                    print("  " + "  ".join(row_cells(row)), file=sys.stderr, flush=True)
    table = [HEADER] + [row_cells(r) for r in rows]
    widths = [max(len(t[i]) for t in table) for i in range(len(HEADER))]
    for j, t in enumerate(table):
        print("  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in enumerate(zip(t, widths))))
        if j == 0:
            print("  ".join("-" * w for w in widths))
    print("job/s: the training loop of `python -m saesanity train` (two job lengths, start-up and saving taken "
          "out);\nwhole/s: samples / the whole process; step/s: train_step alone; limit/s: one encoder matmul. "
          "Ratios only: absolute rates vary between runs.\nkernels off: SAESANITY_KERNELS=0, the torch "
          "operators they stand in for (the same bytes).")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
