"""The trainer: streams shuffled batches from an activation store into one SAE, or into several in one pass
(the SAEs of one seed share the data order, so each batch is read once for all of them).

All variants of one seed share the initial dictionary and the data order (arXiv 2602.14111, section 4);
on CPU the same TrainJob and thread count give bit-identical weights.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from saesanity.atomic import atomic_path
from saesanity.checkpoints import Checkpoints
from saesanity.config import TrainConfig, TrainJob
from saesanity.data.prefetch import prefetched
from saesanity.data.store import ActivationStore, shuffled_batches
from saesanity.sae.base import SAE, TrainOutput
from saesanity.sae.io import save_sae
from saesanity.sae.layout import TRAIN_LOG
from saesanity.sae.registry import build_sae
from saesanity.sae.variants import constrain_decoder, decoder_is_trained, initialise, remove_parallel_grad

# Stream id of the data-order seed, so it never coincides with the init seed's stream.
_DATA_ORDER = 1


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or Inf."""


# Rows kept from the stats pass to calibrate biases and thresholds at init.
CALIBRATION_ROWS = 8192


def activation_stats(store: ActivationStore, n: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Mean [d] and covariance [d, d] of the first `n` rows, accumulated in float64 chunk by chunk, and the
    first CALIBRATION_ROWS rows themselves."""
    total, s_D, ss_DD = 0, np.zeros(store.d), np.zeros((store.d, store.d))
    sample = store.read_all(limit=min(n, CALIBRATION_ROWS))
    for x in store.iter_chunks(limit=n):
        x = torch.from_numpy(x).double()
        total += len(x)
        s_D += x.sum(0).numpy()
        ss_DD += (x.T @ x).numpy()
    mean_D = s_D / total
    cov_DD = ss_DD / total - np.outer(mean_D, mean_D)
    return torch.from_numpy(mean_D).float(), torch.from_numpy(cov_DD), torch.from_numpy(sample)


def lr_at(step: int, n_steps: int, cfg: TrainConfig) -> float:
    """Linear warm-up, constant, then linear decay to zero over the last `lr_decay_fraction` of steps."""
    warmup = cfg.lr_warmup_samples // cfg.batch_size
    decay_start = int(n_steps * (1 - cfg.lr_decay_fraction))
    scale = 1.0
    if step < warmup:
        scale = (step + 1) / warmup
    if step >= decay_start and n_steps > decay_start:
        scale = min(scale, (n_steps - step) / (n_steps - decay_start))
    return cfg.lr * scale


class TrainLog:
    """Rows of train_log.csv, held in memory (a few hundred) and written atomically at the end."""

    def __init__(self):
        self.rows: list[dict[str, float]] = []

    def add(self, row: dict[str, float]) -> None:
        self.rows.append(row)

    def write(self, path: Path) -> None:
        fields = list(dict.fromkeys(k for row in self.rows for k in row))
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
        with atomic_path(path) as tmp:
            tmp.write_text(buf.getvalue())


def _check_finite(sae: SAE, loss: torch.Tensor, step: int) -> None:
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"loss is {loss.item()} at step {step}: lower train.lr, or check the activations "
                               "for NaN/Inf (saesanity validates stores on read only by shape)")
    for name, p in sae.named_parameters():
        # A NaN or Inf anywhere makes the sum NaN or Inf: one read of the tensor instead of isfinite's three.
        if not torch.isfinite(p.sum()):
            raise TrainingDiverged(f"parameter {name} has NaN/Inf after step {step}: lower train.lr")


def make_optimizer(sae: SAE, tc: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the parameters the variant trains (frozen ones are not even given to it)."""
    trainable = [p for p in sae.parameters() if p.requires_grad]
    # fused: one pass over each parameter and its moments per step, on CPU and CUDA alike.
    return torch.optim.AdamW(trainable, lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay, fused=True)


def train_step(sae: SAE, opt: torch.optim.Optimizer, x_BD: torch.Tensor, W0_FD: torch.Tensor, lr: float,
               step: int) -> TrainOutput:
    """One optimiser step, with the decoder kept unit-norm (and in its cone for the soft-frozen variant)."""
    for group in opt.param_groups:
        group["lr"] = lr
    out = sae.training_forward(x_BD)
    _check_finite(sae, out.loss, step)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    if decoder_is_trained(sae):
        remove_parallel_grad(sae)
    opt.step()
    constrain_decoder(sae, W0_FD)
    sae.after_step()
    return out


class _Run:
    """One SAE being trained: its model, optimiser, log and checkpoints."""

    def __init__(self, job: TrainJob, stats, out_dir: str | Path | None, metadata: dict | None):
        mean_D, cov_DD, sample_ND = stats
        self.job, self.out_dir, self.metadata, self.sample_ND = job, out_dir, metadata, sample_ND
        self.sae = build_sae(job.sae)
        self.W0_FD = initialise(self.sae, mean_D, cov_DD, sample_ND)
        self.opt = make_optimizer(self.sae, job.train)
        self.log = TrainLog()
        self.checkpoints = Checkpoints(job.train.checkpoints, job.train.batch_size, out_dir, metadata, sample_ND)

    def step(self, x_BD: torch.Tensor, step: int, n_steps: int) -> None:
        tc = self.job.train
        lr = lr_at(step, n_steps, tc)
        out = train_step(self.sae, self.opt, x_BD, self.W0_FD, lr, step)
        self.checkpoints.after_step(self.sae, step)
        if step % tc.log_every == 0 or step == n_steps - 1:
            var = float((x_BD - x_BD.mean(0)).pow(2).sum(-1).mean())
            self.log.add({"step": step, "samples": (step + 1) * tc.batch_size, "lr": lr,
                          "loss": out.loss.item(), "l0": out.latents.l0(),
                          "ev_batch": 1 - out.parts["mse"] / var if var > 0 else math.nan, **out.parts})

    def finish(self) -> None:
        self.sae.finish(self.sample_ND)
        if self.out_dir is not None:
            out_dir = Path(self.out_dir)
            self.checkpoints.close()
            self.log.write(out_dir / TRAIN_LOG)
            save_sae(self.sae, out_dir, self.metadata)


def check_one_pass(jobs: list[TrainJob]) -> None:
    """SAEs share a pass over the data only if they would see the same batches on their own: the data order
    is set by the seed and the training block (saesanity.data.store.shuffled_batches)."""
    if not jobs:
        raise ValueError("no SAE to train")
    first = jobs[0]
    for job in jobs[1:]:
        if job.sae.seed != first.sae.seed or job.train != first.train:
            raise ValueError(f"{job.sae.arch}/{job.sae.variant} seed {job.sae.seed} cannot share a pass with "
                             f"{first.sae.arch}/{first.sae.variant} seed {first.sae.seed}: one pass needs the "
                             "same seed and the same train settings (they set the data order)")


def train_saes(jobs: list[TrainJob], store: ActivationStore, out_dirs: list[str | Path] | None = None,
               metadata: dict | None = None, threads: int = 1) -> list[tuple[SAE, TrainLog]]:
    """Trains several SAEs in one pass over the data: each batch is read once and every SAE steps on it in
    turn. With `out_dirs`, writes each SAE's cfg.json, sae_weights.safetensors and train_log.csv (and
    checkpoints/) into its folder. Each SAE gets the same bytes as `train_sae` alone: it sees the same
    statistics and batches, and its steps run the same operations on its own state (same `threads`)."""
    check_one_pass(jobs)
    if out_dirs is not None and len(out_dirs) != len(jobs):
        raise ValueError(f"{len(jobs)} SAEs but {len(out_dirs)} output folders")
    tc = jobs[0].train
    for job in jobs:
        if store.d != job.sae.d_in:
            raise ValueError(f"sae.d_in is {job.sae.d_in} but the activations in {store.folder} have d = {store.d}")
    torch.set_num_threads(threads)
    n_steps = tc.n_samples // tc.batch_size
    if n_steps == 0:
        raise ValueError(f"train.n_samples ({tc.n_samples}) is smaller than one batch ({tc.batch_size})")
    stats = activation_stats(store, tc.stats_samples)
    runs = [_Run(job, stats, None if out_dirs is None else out_dirs[i], metadata) for i, job in enumerate(jobs)]
    batches = prefetched(shuffled_batches(store, tc.batch_size, tc.shuffle_buffer, [jobs[0].sae.seed, _DATA_ORDER],
                                          tc.n_samples))
    desc = (f"train {jobs[0].sae.arch}/{jobs[0].sae.variant}" if len(jobs) == 1
            else f"train {len(jobs)} SAEs, seed {jobs[0].sae.seed}")
    for step, x_np in enumerate(tqdm(batches, total=n_steps, desc=desc, mininterval=10)):
        x_BD = torch.from_numpy(x_np)
        for run in runs:
            run.step(x_BD, step, n_steps)
    for run in runs:
        run.finish()
    return [(run.sae, run.log) for run in runs]


def train_sae(job: TrainJob, store: ActivationStore, out_dir: str | Path | None = None,
              metadata: dict | None = None, threads: int = 1) -> tuple[SAE, TrainLog]:
    """Trains one SAE; with `out_dir`, writes cfg.json, sae_weights.safetensors and train_log.csv there.
    Bit-identical results need the same `threads` too: a matmul may sum in another order with more threads."""
    return train_saes([job], store, None if out_dir is None else [out_dir], metadata, threads)[0]
