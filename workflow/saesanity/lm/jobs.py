"""The language-model jobs as the CLI runs them: a JSON spec (the rule's params) in, files out."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from saesanity.lm.harvest import HarvestConfig, harvest
from saesanity.lm.model import ModelSpec, load_model
from saesanity.lm.text import TextSource, documents


@dataclass(frozen=True)
class HarvestJob:
    """One hook of one model: the training store and the held-out store."""

    model: ModelSpec
    hook: str
    text: TextSource
    """Training documents."""
    heldout_text: TextSource | None
    """Held-out documents; None: the documents that follow the training ones in the same stream."""
    train: HarvestConfig
    heldout: HarvestConfig


def run_harvest(job: HarvestJob, out: str | Path, heldout_out: str | Path) -> None:
    lm = load_model(job.model)
    meta = {"text": dataclasses.asdict(job.text)}
    stream = documents(job.text)
    harvest(lm, job.hook, stream, out, job.train, {**meta, "split": "train"})
    heldout = documents(job.heldout_text) if job.heldout_text else stream
    held_meta = {"text": dataclasses.asdict(job.heldout_text)} if job.heldout_text else meta
    harvest(lm, job.hook, heldout, heldout_out, job.heldout, {**held_meta, "split": "heldout"})
