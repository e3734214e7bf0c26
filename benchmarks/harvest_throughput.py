"""Harvest throughput: tokens/s of saesanity.lm.harvest.harvest beside the bare forward pass it cannot avoid,
measured in the same run, so the ratio says what writing Parquet costs (goal: under 15% on top).

The reference ("bare forward") does everything a harvest needs except keeping the activations: the same
documents, tokenised and batched by the same function (token_batches), padded, and run through the model
up to the hook's block (LanguageModel.forward_to: transformer_lens's stop_at_layer, as harvest does). The
harvest run adds the hook cache, the BOS/padding mask, the float cast, the shard buffering and the zstd
Parquet writes with their meta.json and atomic rename. The two alternate (bare, harvest, bare, ...) so that
both sample the same stretch of this noisy machine; medians are reported.

The model is the toy-world transformer at the default size (config.yaml: d_model 128, 2 layers, context
64) with random weights (speed does not depend on training), or a trained model folder (--model), over
toy-world documents generated in a temporary folder.

    python benchmarks/harvest_throughput.py                  # default size, 200k tokens, 3 repeats, 1 thread
    python benchmarks/harvest_throughput.py --quick          # smoke check (seconds)
    python benchmarks/harvest_throughput.py --model results/models/toyworld --tokens 400000 --threads 2
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from saesanity.data.toyworld import ToyWorldConfig, generate, read_documents
from saesanity.lm.harvest import HarvestConfig, harvest, token_batches
from saesanity.lm.model import LanguageModel, ToyModelConfig, build_toy_model, load_toy_model, pad_batch
from saesanity.lm.tokenizer import load_tokenizer, save_tokenizer, train_tokenizer

HOOK = "blocks.1.hook_resid_pre"


def bare_forward(lm: LanguageModel, docs, cfg: HarvestConfig) -> int:
    n = 0
    with torch.no_grad():
        for _, seqs in token_batches(lm, docs, cfg.batch_docs, cfg.n_tokens):
            lm.forward_to(pad_batch(seqs, lm.pad_id), HOOK)
            n += sum(len(s) - 1 for s in seqs)
    return n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch-docs", type=int, default=64)
    parser.add_argument("--dtype", default="float32", choices=["float32", "float16"], help="storage dtype")
    parser.add_argument("--model", help="a trained toy-world model folder (default: random weights)")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.tokens, args.repeats = 5_000, 1
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        n_docs = args.tokens // 30 + 100  # documents average ~37 words
        generate(ToyWorldConfig(n_train_docs=n_docs, n_heldout_docs=1), tmp / "corpus")
        table = read_documents(tmp / "corpus", "train")
        docs = list(zip(table["doc"].to_pylist(), table["text"].to_pylist()))
        if args.model:
            lm = load_toy_model(args.model)
        else:
            save_tokenizer(train_tokenizer(table["text"].to_pylist()), tmp / "tok")
            tok = load_tokenizer(tmp / "tok")
            lm = LanguageModel(build_toy_model(ToyModelConfig(), len(tok), seed=0).eval(), tok, "toyworld")
        cfg = HarvestConfig(n_tokens=args.tokens, batch_docs=args.batch_docs, dtype=args.dtype)
        bare_forward(lm, docs[:200], cfg)  # warm-up
        times = {"bare forward": [], "harvest": []}
        n = 0
        for r in range(args.repeats):
            t0 = time.perf_counter()
            n = bare_forward(lm, docs, cfg)
            times["bare forward"].append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            count = harvest(lm, HOOK, docs, tmp / f"store{r}", cfg)
            times["harvest"].append(time.perf_counter() - t0)
            assert count == n, (count, n)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"harvest throughput: {n} tokens (BOS excluded), d_model {lm.d_model}, hook {HOOK}, "
          f"{args.threads} thread(s), batch {args.batch_docs} docs, {args.dtype} shards, median of {args.repeats}")
    print(f"{'':14s} {'tokens/s':>10s} {'seconds':>8s}")
    for k, v in med.items():
        print(f"{k:14s} {n / v:10,.0f} {v:8.2f}")
    overhead = med["harvest"] / med["bare forward"] - 1
    print(f"writing overhead: {100 * overhead:+.1f}% on top of the bare forward pass (goal: < 15%)")


if __name__ == "__main__":
    main()
