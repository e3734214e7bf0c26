"""The sparse training path against the dense reference on any device: agreement and speed.

    python benchmarks/sparse_vs_dense.py --device cuda            # d_in 512 x 16,384 latents, all architectures
    python benchmarks/sparse_vs_dense.py --size synthetic --steps 3

For each architecture, two copies of one SAE (initialised as train_sae does) take the same training steps,
one on the sparse path (saesanity.sae.sparse, the default) and one on the dense path; printed: the largest
relative difference of the first step's loss and gradients (float tolerance expected: about 1e-5 in
float32, more on GPUs with TF32 matmuls), of the weights after the last step (Adam magnifies near-zero
gradients' rounding, so up to about lr), and the median step time of each path. tests/test_sparse_path.py
checks the same on CPU at a small size.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time

import torch
from train_throughput import SIZES, synthetic_data

from saesanity.config import SAEConfig, TrainConfig
from saesanity.sae.registry import ARCHITECTURES, build_sae
from saesanity.sae.variants import initialise
from saesanity.train import make_optimizer, train_step


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max().clamp_min(1e-12))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--size", default="large", choices=sorted(SIZES))
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--variant", default="trained")
    args = p.parse_args()
    device, size = torch.device(args.device), SIZES[args.size]
    tc = TrainConfig(batch_size=args.batch)
    stats = synthetic_data(size, 8192, stream=0).double()
    mean_D, cov_DD, sample_ND = stats.mean(0).float(), torch.cov(stats.T, correction=0), stats.float()
    batches = [x.to(device) for x in synthetic_data(size, args.batch * args.steps, stream=1).split(args.batch)]
    print(f"{size.label}, batch {args.batch}, {args.steps} steps, variant {args.variant}, device {device}")
    print("arch       loss rel  grad rel  weights rel  sparse ms  dense ms")
    for arch in ARCHITECTURES:
        cfg = SAEConfig(arch=arch, d_in=size.d_in, d_sae=size.d_sae, target_l0=size.k, variant=args.variant)
        sparse = build_sae(cfg)
        W0_FD = initialise(sparse, mean_D, cov_DD, sample_ND).to(device)
        sparse.to(device)
        dense = copy.deepcopy(sparse)
        dense.sparse_path = False
        opts = {id(s): make_optimizer(s, tc) for s in (sparse, dense)}
        times = {id(s): [] for s in (sparse, dense)}
        for step, x_BD in enumerate(batches):
            outs = []
            for sae in (sparse, dense):
                sync(device)
                t0 = time.perf_counter()
                outs.append(train_step(sae, opts[id(sae)], x_BD, W0_FD, tc.lr, step))
                sync(device)
                times[id(sae)].append(time.perf_counter() - t0)
            if step == 0:
                loss_rel = rel(outs[0].loss.detach(), outs[1].loss.detach())
                grad_rel = max(rel(a.grad, b.grad) for a, b in zip(sparse.parameters(), dense.parameters())
                               if b.grad is not None)
        w_rel = max(rel(a, b) for a, b in zip(sparse.state_dict().values(), dense.state_dict().values()))
        ms = [1e3 * statistics.median(times[id(s)][1:] or times[id(s)]) for s in (sparse, dense)]
        print(f"{arch:<9}  {loss_rel:8.1e}  {grad_rel:8.1e}  {w_rel:11.1e}  {ms[0]:9.1f}  {ms[1]:8.1f}", flush=True)


if __name__ == "__main__":
    main()
