"""Intermediate checkpoints of one training run, for PW-MCC against ground truth over training (arXiv
2505.20254). A copy of the SAE is finished (e.g. BatchTopK's inference threshold, the activation scale folded
in) and saved in the SAELens layout into <sae folder>/checkpoints/<count>/ when `count` samples have been seen; the training state itself
is not touched, so the final weights are the same bytes with or without checkpoints."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.sae.base import SAE
from saesanity.sae.io import save_sae
from saesanity.sae.layout import CHECKPOINTS


class Checkpoints:
    """Writes into a temporary folder during training; `close` renames it to <out_dir>/checkpoints (always,
    empty when no counts are asked), so a killed run leaves no folder that looks complete."""

    def __init__(self, counts: Sequence[int], batch_size: int, out_dir: str | Path | None,
                 metadata: dict | None, finish: Callable[[SAE], dict]):
        """`finish` turns a copy of the SAE into its inference form in place and returns its training
        summary (saesanity.train)."""
        self.pending = sorted(counts)
        self.batch_size, self.metadata, self.finish = batch_size, metadata or {}, finish
        self._atomic = atomic_path(Path(out_dir) / CHECKPOINTS) if out_dir is not None else None
        self.folder = self._atomic.__enter__() if self._atomic else None
        if self.folder is not None:
            self.folder.mkdir()

    def after_step(self, sae: SAE, step: int) -> None:
        seen = (step + 1) * self.batch_size
        while self.pending and seen >= self.pending[0]:
            count = self.pending.pop(0)
            if self.folder is not None:
                snapshot = copy.deepcopy(sae)
                summary = self.finish(snapshot)
                save_sae(snapshot.eval(), self.folder / str(count),
                         {**self.metadata, "checkpoint_samples": count, "samples_seen": seen}, summary)

    def close(self) -> None:
        if self._atomic is not None:
            self._atomic.__exit__(None, None, None)
