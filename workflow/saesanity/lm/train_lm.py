"""Trains the toy-world language model on the corpus's training documents and measures what it learned:
next-token loss and accuracy on held-out documents, and accuracy on attribute prompts, split by whether
the template occurred in training (the held-out templates ask seen facts in unseen sentences)."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch
import torch.nn.functional as F
from tqdm import tqdm

from saesanity.atomic import write_json
from saesanity.config import _check
from saesanity.data.toyworld import read_documents
from saesanity.lm.model import LanguageModel, ToyModelConfig, build_toy_model, pad_batch, resolve_device, save_toy_model
from saesanity.lm.tokenizer import load_tokenizer


@dataclass(frozen=True)
class LMTrainConfig:
    """AdamW with linear warm-up and cosine decay; one batch = `batch_size` documents."""

    steps: int = 1500
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    """Weight init and document order."""
    log_every: int = 50

    def __post_init__(self) -> None:
        for key in ("steps", "batch_size", "log_every"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.lr > 0, "lr", "must be positive")


@dataclass(frozen=True)
class LMJob:
    model: ToyModelConfig = field(default_factory=ToyModelConfig)
    train: LMTrainConfig = field(default_factory=LMTrainConfig)
    device: str = "auto"


def next_token_loss(lm: LanguageModel, tokens_BT: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Mean cross-entropy over real (non-pad) next tokens, the number correct, and their count."""
    logits_BTV = lm.logits(tokens_BT[:, :-1])
    target_BT = tokens_BT[:, 1:].to(logits_BTV.device)
    mask = target_BT != lm.pad_id
    loss = F.cross_entropy(logits_BTV[mask].float(), target_BT[mask])
    correct = (logits_BTV[mask].argmax(-1) == target_BT[mask]).sum()
    return loss, correct, int(mask.sum())


def _lr(step: int, cfg: LMTrainConfig) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


@torch.no_grad()
def document_metrics(lm: LanguageModel, docs: list[list[int]], batch_size: int = 256) -> dict:
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(docs), batch_size):
        loss, c, n = next_token_loss(lm, pad_batch(docs[i:i + batch_size], lm.pad_id))
        total += float(loss) * n
        correct += int(c)
        count += n
    return {"loss": total / count, "accuracy": correct / count, "tokens": count}


@torch.no_grad()
def prompt_predictions(lm: LanguageModel, prompts: list[str], answers: list[str],
                       batch_size: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Per prompt: whether the top next token is the answer, and the cross-entropy of the answer."""
    hits, losses = [], []
    for i in range(0, len(prompts), batch_size):
        seqs = [lm.encode(p) for p in prompts[i:i + batch_size]]
        answer_ids = torch.tensor([lm.tokenizer.convert_tokens_to_ids(a) for a in answers[i:i + batch_size]])
        logits_BTV = lm.logits(pad_batch(seqs, lm.pad_id))
        last_BV = logits_BTV[torch.arange(len(seqs)), torch.tensor([len(s) - 1 for s in seqs])].float().cpu()
        hits.append((last_BV.argmax(-1) == answer_ids).numpy())
        losses.append(F.cross_entropy(last_BV, answer_ids, reduction="none").numpy())
    return np.concatenate(hits), np.concatenate(losses)


def attribute_metrics(lm: LanguageModel, prompts_path: str | Path) -> list[dict]:
    """Accuracy and loss of the answer token per (entity type, attribute, template split), and overall."""
    df = pq.read_table(prompts_path).to_pandas()
    df["hit"], df["loss"] = prompt_predictions(lm, df.prompt.tolist(), df.answer.tolist())
    rows = []
    for keys, g in [(("all", "all", s), g) for s, g in df.groupby("template_split")] + \
                   list(df.groupby(["entity_type", "attribute", "template_split"])):
        rows.append({"entity_type": keys[0], "attribute": keys[1], "template_split": keys[2],
                     "accuracy": float(g.hit.mean()), "loss": float(g.loss.mean()), "n_prompts": len(g)})
    return rows


def train_lm(job: LMJob, corpus: str | Path, tokenizer_dir: str | Path, out_dir: str | Path,
             metrics_out: str | Path, threads: int = 1) -> dict:
    torch.set_num_threads(threads)
    torch.manual_seed(job.train.seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    model = build_toy_model(job.model, len(tokenizer), seed=job.train.seed).to(resolve_device(job.device))
    lm = LanguageModel(model, tokenizer, name="toyworld")
    train_docs = [lm.encode(t) for t in read_documents(corpus, "train")["text"].to_pylist()]
    heldout_docs = [lm.encode(t) for t in read_documents(corpus, "heldout")["text"].to_pylist()]
    tc = job.train
    opt = torch.optim.AdamW(model.parameters(), lr=tc.lr, weight_decay=tc.weight_decay)
    rng = np.random.default_rng([tc.seed, 1])
    order, cursor = rng.permutation(len(train_docs)), 0
    log: list[dict] = []
    model.train()
    for step in tqdm(range(tc.steps), desc="train_lm", mininterval=10):
        if cursor + tc.batch_size > len(order):
            order, cursor = rng.permutation(len(train_docs)), 0
        batch = [train_docs[i] for i in order[cursor:cursor + tc.batch_size]]
        cursor += tc.batch_size
        for group in opt.param_groups:
            group["lr"] = _lr(step, tc)
        loss, correct, n = next_token_loss(lm, pad_batch(batch, lm.pad_id))
        if not torch.isfinite(loss):
            raise RuntimeError(f"train_lm: loss is {loss.item()} at step {step}; lower toyworld.train.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % tc.log_every == 0 or step == tc.steps - 1:
            log.append({"step": step, "lr": _lr(step, tc), "loss": loss.item(), "accuracy": int(correct) / n})
    model.eval()
    metrics = {"heldout_documents": document_metrics(lm, heldout_docs),
               "attributes": attribute_metrics(lm, Path(corpus) / "prompts.parquet"),
               "tokens_seen": int(tc.steps * tc.batch_size * np.mean([len(d) - 1 for d in train_docs]))}
    log_csv = pd.DataFrame(log).to_csv(index=False, float_format="%.6g", lineterminator="\n")
    save_toy_model(lm, job.model, out_dir, {"train": dataclasses.asdict(tc)}, {"train_log.csv": log_csv})
    write_json(metrics_out, metrics)
    return metrics
