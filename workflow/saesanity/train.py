"""The trainer: streams shuffled batches from an activation store into one SAE, or into several in one pass
(the SAEs of one seed share the data order, so each batch is read once for all of them).

All variants of one seed share the initial dictionary and the data order (arXiv 2602.14111, section 4);
on CPU the same TrainJob and thread count give bit-identical weights.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from saesanity.atomic import write_csv_rows
from saesanity.checkpoints import Checkpoints
from saesanity.config import CONCEPT_DICTIONARY, UNTRAINED, TrainConfig, TrainJob
from saesanity.data.calibration import ActivationStats, activation_stats
from saesanity.data.prefetch import prefetched
from saesanity.data.store import ActivationStore, shuffled_batches
from saesanity.sae.base import SAE, TrainOutput
from saesanity.sae.io import save_sae
from saesanity.sae.layout import TRAIN_CURVE, TRAIN_LOG
from saesanity.sae.registry import build_sae
from saesanity.sae.variants import (constrain_decoder, decoder_unit_norm, dictionary_geometry, initialise,
                                    remove_parallel_grad)
from saesanity.train_curve import TrainCurve, curve_steps, decoder_init_cos

# Stream ids of the data-order and statistics seeds, so they never coincide with the init seed's stream.
_DATA_ORDER, _STATS = 1, 2


class TrainingDiverged(RuntimeError):
    """The loss or a parameter became NaN or Inf."""


def training_stats(store: ActivationStore, tc: TrainConfig, seed: int) -> ActivationStats:
    """The statistics a run of seed `seed` starts from: tc.stats_samples rows drawn uniformly from the whole
    store by a seed stream of its own, and the activation scale when tc.normalize_activations."""
    return activation_stats(store, tc.stats_samples, [seed, _STATS], tc.normalize_activations)


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
        write_csv_rows(path, self.rows, list(dict.fromkeys(k for row in self.rows for k in row)))


PARAMS_CHECKED_EVERY = 16
"""Steps between the trainer's checks of every parameter for NaN/Inf (and after the last step). The loss is
checked every step, and a NaN parameter makes the next loss NaN anyway; reading every parameter every step
cost a few percent of a step at d 576."""


def _check_finite(sae: SAE, loss: torch.Tensor, step: int, params_since: int | None = None) -> None:
    """Raises TrainingDiverged on a NaN/Inf loss; with `params_since` (the last step whose parameters were
    checked, -1 for none), also on a NaN/Inf parameter, naming the steps it appeared between."""
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"loss is {loss.item()} at step {step}: lower train.lr, or check the activations "
                               "for NaN/Inf (saesanity validates stores on read only by shape)")
    if params_since is None:
        return
    for name, p in sae.named_parameters():
        # A NaN or Inf anywhere makes the sum NaN or Inf: one read of the tensor instead of isfinite's three.
        if not torch.isfinite(p.sum()):
            since = f" (finite after step {params_since})" if params_since >= 0 else ""
            raise TrainingDiverged(f"parameter {name} has NaN/Inf after step {step}{since}: lower train.lr")


def make_optimizer(sae: SAE, tc: TrainConfig) -> torch.optim.Optimizer:
    """AdamW over the parameters the variant trains (frozen ones are not even given to it); the decoder's
    group carries `lr_scale` = tc.decoder_lr_scale, a parameter in sae.lr_scales() its own factor (a group
    of its own only where the factor is not 1: AdamW's update is elementwise, so grouping changes no bits),
    the others 1."""
    scales = {p: s for p, s in sae.lr_scales().items() if s != 1.0 and p.requires_grad}
    scales_ids = {id(p) for p in scales}
    trainable = [p for p in sae.parameters()
                 if p.requires_grad and p is not sae.W_dec and id(p) not in scales_ids]
    groups = [{"params": trainable, "lr_scale": 1.0}]
    if sae.W_dec.requires_grad:
        groups.append({"params": [sae.W_dec], "lr_scale": tc.decoder_lr_scale})
    groups += [{"params": [p], "lr_scale": s} for p, s in scales.items()]
    # fused: one pass over each parameter and its moments per step, on CPU and CUDA alike.
    return torch.optim.AdamW(groups, lr=tc.lr, betas=tc.betas, weight_decay=tc.weight_decay, fused=True)


def train_step(sae: SAE, opt: torch.optim.Optimizer, x_BD: torch.Tensor, W0_FD: torch.Tensor, lr: float,
               step: int, params_since: int | None = -1) -> tuple[TrainOutput, torch.Tensor | None]:
    """One optimiser step, with the decoder kept unit-norm where it should be (and in its cone for the
    soft-frozen variant). Returns the output and the rows the cone moved (soft-frozen only, else None).
    The loss is checked for NaN/Inf, and the parameters too unless `params_since` is None (see
    _check_finite)."""
    for group in opt.param_groups:
        group["lr"] = lr * group["lr_scale"]
    out = sae.training_forward(x_BD)
    _check_finite(sae, out.loss, step, params_since)
    opt.zero_grad(set_to_none=True)
    out.loss.backward()
    if decoder_unit_norm(sae):
        remove_parallel_grad(sae)
    opt.step()
    moved_F = constrain_decoder(sae, W0_FD)
    sae.after_step()
    return out, moved_F


class _Run:
    """One SAE being trained: its model, optimiser, log and checkpoints. It trains on activations times
    `stats.scale` (1 without normalisation); whatever it saves is folded back to raw activations."""

    def __init__(self, job: TrainJob, stats: ActivationStats, out_dir: str | Path | None,
                 metadata: dict | None, truth_FD: torch.Tensor | None = None,
                 heldout_ND: torch.Tensor | None = None, n_steps: int = 0):
        self.job, self.out_dir, self.metadata, self.scale = job, out_dir, metadata, stats.scale
        scaled = stats.scaled()
        self.sample_ND, self.stats_rows = scaled.sample_ND, stats.n
        self.sae = build_sae(job.sae)
        self.W0_FD = initialise(self.sae, scaled.mean_D, scaled.cov_DD, scaled.sample_ND, truth_FD)
        self.init_geometry = dictionary_geometry(self.W0_FD)
        self.cone_moved_F = torch.zeros(job.sae.d_sae, dtype=torch.bool)
        self.opt = make_optimizer(self.sae, job.train)
        self.log = TrainLog()
        self.steps_done = 0
        # heldout_ND is already scaled like the training batches (train_saes).
        self.curve = (TrainCurve(heldout_ND, self.W0_FD, curve_steps(n_steps, job.train.curve_points),
                                 job.train.batch_size) if heldout_ND is not None else None)
        if self.curve is not None:
            self.curve.after(self.sae, 0)
        self.checkpoints = Checkpoints(job.train.checkpoints, job.train.batch_size, out_dir, metadata,
                                       self.finish_sae)

    def step(self, x_BD: torch.Tensor, step: int, n_steps: int) -> None:
        tc = self.job.train
        lr = lr_at(step, n_steps, tc)
        # The parameters as the step found them are checked every PARAMS_CHECKED_EVERY steps; after the
        # last step, finish() checks them once more.
        check = step % PARAMS_CHECKED_EVERY == 0
        out, moved_F = train_step(self.sae, self.opt, x_BD, self.W0_FD, lr, step,
                                  step - PARAMS_CHECKED_EVERY if check else None)
        if moved_F is not None:
            self.cone_moved_F |= moved_F
        self.steps_done = step + 1
        if self.curve is not None:
            self.curve.after(self.sae, self.steps_done)
        self.checkpoints.after_step(self.sae, step)
        if step % tc.log_every == 0 or step == n_steps - 1:
            var = float((x_BD - x_BD.mean(0)).pow(2).sum(-1).mean())
            self.log.add({"step": step, "samples": (step + 1) * tc.batch_size, "lr": lr,
                          "loss": out.loss.item(), "l0": out.latents.l0(),
                          "ev_batch": 1 - out.parts["mse"] / var if var > 0 else math.nan, **out.parts})

    @torch.no_grad()
    def finish_sae(self, sae: SAE) -> dict:
        """Fixes `sae`'s inference state (e.g. BatchTopK's threshold), folds the activation scale into it,
        and returns what cfg.json records of its training (`saesanity_training`)."""
        sae.finish(self.sample_ND)
        cos_F = decoder_init_cos(sae.W_dec.detach(), self.W0_FD)
        soft = sae.cfg.variant_kind == "soft_frozen_decoder"
        summary = {"activation_scale": self.scale, "stats_rows": self.stats_rows,
                   "init_effective_rank": self.init_geometry["effective_rank"],
                   "init_mean_abs_cos": self.init_geometry["mean_abs_cos"],
                   "init_cos_min": float(cos_F.min()), "init_cos_mean": float(cos_F.mean()),
                   "cone_moved_fraction": float(self.cone_moved_F.double().mean()) if soft else None,
                   "tokens_seen": self.steps_done * self.job.train.batch_size,
                   **self.curve_summary(),
                   **sae.training_summary()}
        sae.fold_input_scale(self.scale)
        return summary

    def curve_summary(self) -> dict:
        """Where on its held-out curve the SAE stopped (saesanity.train_curve); null without a curve.
        A checkpoint's summary reads the curve up to the checkpoint (its last quarter is the checkpoint's)."""
        if self.curve is None:
            return {"curve_points": 0, "curve_heldout_ev": None, "ev_gain_last_quarter": None, "converged": None}
        return self.curve.summary(self.job.train.converged_ev_gain)

    def finish(self) -> None:
        summary = self.finish_sae(self.sae)
        if self.out_dir is not None:
            out_dir = Path(self.out_dir)
            self.checkpoints.close()
            self.log.write(out_dir / TRAIN_LOG)
            if self.curve is not None:
                self.curve.write(out_dir / TRAIN_CURVE)
            save_sae(self.sae, out_dir, self.metadata, summary)


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


def scaled(batches: Iterator[np.ndarray], scale: float) -> Iterator[torch.Tensor]:
    """The batches as tensors times `scale`: run inside the prefetch thread, so the step does not wait on it."""
    for x_np in batches:
        yield torch.from_numpy(x_np) if scale == 1.0 else torch.from_numpy(x_np) * scale


def train_saes(jobs: list[TrainJob], store: ActivationStore, out_dirs: list[str | Path] | None = None,
               metadata: dict | None = None, threads: int = 1, truth_FD: torch.Tensor | None = None,
               heldout: ActivationStore | None = None) -> list[tuple[SAE, TrainLog]]:
    """Trains several SAEs in one pass over the data: each batch is read once and every SAE steps on it in
    turn. With `out_dirs`, writes each SAE's cfg.json, sae_weights.safetensors and train_log.csv (and
    checkpoints/) into its folder. Each SAE gets the same bytes as `train_sae` alone: it sees the same
    statistics and batches, and its steps run the same operations on its own state (same `threads`).
    `truth_FD`: the true dictionary of a synthetic store, for the ceiling variants (init 'truth').
    `heldout`: the source's held-out store; with it (and train.curve_points > 0) each SAE also gets
    train_curve.csv and the curve's summary in cfg.json (saesanity.train_curve)."""
    check_one_pass(jobs)
    if out_dirs is not None and len(out_dirs) != len(jobs):
        raise ValueError(f"{len(jobs)} SAEs but {len(out_dirs)} output folders")
    tc = jobs[0].train
    for job in jobs:
        if job.sae.variant == CONCEPT_DICTIONARY:
            raise ValueError(f"variant {CONCEPT_DICTIONARY!r} is built from the toy world's labels "
                             "(saesanity sanity-concept-dictionary), not trained")
        if store.d != job.sae.d_in:
            raise ValueError(f"sae.d_in is {job.sae.d_in} but the activations in {store.folder} have d = {store.d}")
    torch.set_num_threads(threads)
    n_steps = tc.n_samples // tc.batch_size
    if n_steps == 0:
        raise ValueError(f"train.n_samples ({tc.n_samples}) is smaller than one batch ({tc.batch_size})")
    stats = training_stats(store, tc, jobs[0].sae.seed)
    heldout_ND = None
    if heldout is not None and tc.curve_points > 0:
        # Scaled exactly as the training batches are, so the curve sees the SAE in its training units.
        heldout_ND = torch.from_numpy(heldout.read_all(limit=tc.curve_rows))
        heldout_ND = heldout_ND if stats.scale == 1.0 else heldout_ND * stats.scale
    # An untrained SAE (the sanity check's negative control) is initialised and calibrated, and takes no step.
    runs = [_Run(job, stats, None if out_dirs is None else out_dirs[i], metadata, truth_FD,
                 None if job.sae.variant == UNTRAINED else heldout_ND, n_steps) for i, job in enumerate(jobs)]
    stepping = [run for run in runs if run.job.sae.variant != UNTRAINED]
    if stepping:
        batches = prefetched(scaled(shuffled_batches(store, tc.batch_size, tc.shuffle_buffer,
                                                     [jobs[0].sae.seed, _DATA_ORDER], tc.n_samples), stats.scale))
        desc = (f"train {jobs[0].sae.arch}/{jobs[0].sae.variant}" if len(jobs) == 1
                else f"train {len(jobs)} SAEs, seed {jobs[0].sae.seed}")
        for step, x_BD in enumerate(tqdm(batches, total=n_steps, desc=desc, mininterval=10)):
            for run in stepping:
                run.step(x_BD, step, n_steps)
    last_checked = (n_steps - 1) // PARAMS_CHECKED_EVERY * PARAMS_CHECKED_EVERY - 1
    for run in runs:
        _check_finite(run.sae, torch.zeros(()), n_steps - 1, last_checked)  # the last steps' parameters
        run.finish()
    return [(run.sae, run.log) for run in runs]


def train_sae(job: TrainJob, store: ActivationStore, out_dir: str | Path | None = None,
              metadata: dict | None = None, threads: int = 1, truth_FD: torch.Tensor | None = None,
              heldout: ActivationStore | None = None) -> tuple[SAE, TrainLog]:
    """Trains one SAE; with `out_dir`, writes cfg.json, sae_weights.safetensors and train_log.csv there.
    Bit-identical results need the same `threads` too: a matmul may sum in another order with more threads."""
    return train_saes([job], store, None if out_dir is None else [out_dir], metadata, threads, truth_FD,
                      heldout)[0]
