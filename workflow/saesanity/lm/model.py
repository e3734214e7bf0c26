"""The language-model adapter: the only module that touches transformer_lens (pinned in envs/constraints.txt).

Everything else sees a `LanguageModel`: token ids in, logits or one hook's activations out, or logits with
one hook's activations replaced. Two kinds of model:
- 'toyworld': a small HookedTransformer built from `ToyModelConfig`, trained by saesanity.lm.train_lm and
  saved as model.safetensors + config.json + tokenizer/ in one folder;
- 'hf': any model transformer_lens can load (`HookedTransformer.from_pretrained_no_processing`, so hooked
  activations equal the Hugging Face model's), by official name or local folder.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from saesanity.atomic import atomic_path
from saesanity.config import ConfigError, _check

MODEL_WEIGHTS, MODEL_CONFIG, TOKENIZER_DIR = "model.safetensors", "config.json", "tokenizer"
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelNotAvailable(RuntimeError):
    """A Hugging Face model or data set is neither local nor cached, and could not be fetched."""


def one_line(err: Exception, limit: int = 300) -> str:
    return " ".join(str(err).split())[:limit]


def resolve_device(device: str) -> str:
    """'auto' means cuda when torch sees a GPU, else cpu; anything else is passed to torch as is."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


@dataclass(frozen=True)
class ToyModelConfig:
    """A small GPT-style transformer (pre-LayerNorm, learned positions, GELU MLP)."""

    d_model: int = 128
    n_layers: int = 2
    n_heads: int = 4
    d_mlp: int = 512
    n_ctx: int = 64
    """Context length, BOS included; longer documents are truncated."""

    def __post_init__(self) -> None:
        for key in ("d_model", "n_layers", "n_heads", "d_mlp", "n_ctx"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.d_model % self.n_heads == 0, "n_heads", f"must divide d_model ({self.d_model})")


@dataclass(frozen=True)
class ModelSpec:
    """Which model a job loads, and where it runs."""

    kind: str
    """'toyworld' (a folder written by train_lm) or 'hf' (transformer_lens from_pretrained)."""
    path: str
    """toyworld: the model folder; hf: official name (EleutherAI/pythia-70m) or a local folder."""
    device: str = "auto"
    """'auto' = cuda when available, else cpu; or any torch device string."""
    dtype: str = "float32"
    n_ctx: int | None = None
    """Tokens per document, BOS included (longer ones are truncated); None: the model's context length."""

    def __post_init__(self) -> None:
        _check(self.n_ctx is None or self.n_ctx >= 2, "n_ctx", f"must be >= 2, got {self.n_ctx}")
        _check(self.kind in ("toyworld", "hf"), "kind", f"must be 'toyworld' or 'hf', got {self.kind!r}")
        _check(self.dtype in DTYPES, "dtype", f"must be one of {sorted(DTYPES)}, got {self.dtype!r}")


class LanguageModel:
    """A HookedTransformer with its tokenizer, seen through the few operations the pipeline needs."""

    def __init__(self, model, tokenizer, name: str, n_ctx: int | None = None):
        self.model, self.tokenizer, self.name = model, tokenizer, name
        self._n_ctx = min(n_ctx or model.cfg.n_ctx, model.cfg.n_ctx)
        self.bos_id = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
        if self.bos_id is None:
            raise ValueError(f"{name}: the tokenizer has neither a BOS nor an EOS token to start documents with")
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.bos_id

    @property
    def d_model(self) -> int:
        return self.model.cfg.d_model

    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    @property
    def device(self) -> torch.device:
        return self.model.cfg.device if isinstance(self.model.cfg.device, torch.device) else torch.device(
            self.model.cfg.device)

    def encode(self, text: str, n_ctx: int | None = None) -> list[int]:
        """BOS followed by the text's tokens, truncated to the context length. A special token's name in the
        text (e.g. a literal "<|endoftext|>") is tokenized as plain text, so BOS is a document's only special
        token, and harvest leaves it out: SAEs never train on special-token positions (as in SAELens)."""
        ids = self.tokenizer(text, add_special_tokens=False, split_special_tokens=True)["input_ids"]
        return [self.bos_id, *ids][: n_ctx or self.n_ctx]

    def check_hook(self, hook: str) -> None:
        if hook not in self.model.hook_dict:
            names = [h for h in self.model.hook_dict if "resid" in h][:8]
            raise ConfigError(f"hook {hook!r} is not a hook point of {self.name}; e.g. {names}")

    def logits(self, tokens_BT: torch.Tensor) -> torch.Tensor:
        return self.model(tokens_BT.to(self.device), return_type="logits")

    def activations(self, tokens_BT: torch.Tensor, hook: str) -> torch.Tensor:
        """[B, T, d] activations at `hook`, running the model only up to the block that holds it (a block's
        input, hook_resid_pre, is the output of the blocks before it: that block does not run)."""
        self.check_hook(hook)
        if self.resumes_at(hook):
            return self.model(tokens_BT.to(self.device), stop_at_layer=self._blocks_before(hook), return_type=None)
        _, cache = self.model.run_with_cache(tokens_BT.to(self.device), names_filter=hook,
                                             stop_at_layer=stop_layer(hook), return_type=None)
        return cache[hook]

    def forward_to(self, tokens_BT: torch.Tensor, hook: str) -> None:
        """The bare forward pass a harvest needs (to the hook's block), keeping nothing: the reference
        that harvest throughput is measured against."""
        self.model(tokens_BT.to(self.device), stop_at_layer=self._blocks_before(hook), return_type=None)

    def logits_with(self, tokens_BT: torch.Tensor, hook: str,
                    replace: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        """Logits with the activations at `hook` ([B, T, d]) replaced by `replace(activations)`."""
        self.check_hook(hook)
        return self.model.run_with_hooks(tokens_BT.to(self.device), return_type="logits",
                                         fwd_hooks=[(hook, lambda act, hook: replace(act))])

    def resumes_at(self, hook: str) -> bool:
        """Whether logits_from can continue the forward pass from `hook` (the input of a block)."""
        return re.fullmatch(r"blocks\.\d+\.hook_resid_pre", hook) is not None

    def _blocks_before(self, hook: str) -> int | None:
        """transformer_lens's stop_at_layer for the activations at `hook`: a block's input (hook_resid_pre) is
        the output of the blocks before it, so that block does not run; any other hook needs its block."""
        return stop_layer(hook) - 1 if self.resumes_at(hook) else stop_layer(hook)

    def logits_from(self, resid_BTD: torch.Tensor, hook: str, at_B: torch.Tensor | None = None) -> torch.Tensor:
        """Logits of the model run from `hook` on, given the activations there: what logits_with computes
        when the earlier layers are already known (e.g. cached), without running them again. With `at_B`,
        [B, vocab] logits at position at_B[b] of row b only: the unembedding (a quarter of SmolLM2's
        forward pass after layer 12) and its backward pass skip every other position."""
        if not self.resumes_at(hook):
            raise ValueError(f"logits_from needs a blocks.<L>.hook_resid_pre hook, got {hook!r}")
        start = self._blocks_before(hook)
        if at_B is None:
            return self.model(resid_BTD.to(self.device), start_at_layer=start, return_type="logits")
        # transformer_lens's own tail (HookedTransformer.forward after its blocks), on the chosen positions.
        resid_BTD = self.model(resid_BTD.to(self.device), start_at_layer=start, stop_at_layer=self.model.cfg.n_layers)
        resid_BD = resid_BTD[torch.arange(len(at_B), device=resid_BTD.device), at_B.to(resid_BTD.device)]
        if self.model.cfg.normalization_type is not None:
            resid_BD = self.model.ln_final(resid_BD)
        from transformer_lens.utilities import apply_softcap
        return apply_softcap(self.model.unembed(resid_BD), self.model.cfg.output_logits_soft_cap)


def pad_batch(seqs: list[list[int]], pad_id: int) -> torch.Tensor:
    """Token lists as one [B, T] tensor, right-padded: with causal attention the padding never changes
    the real positions."""
    out = torch.full((len(seqs), max(len(s) for s in seqs)), pad_id, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s)
    return out


def stop_layer(hook: str) -> int | None:
    """transformer_lens's stop_at_layer for a hook in block L is L + 1 (None: run the whole model)."""
    m = re.match(r"blocks\.(\d+)\.", hook)
    return int(m.group(1)) + 1 if m else None


def build_toy_model(cfg: ToyModelConfig, vocab_size: int, seed: int):
    from transformer_lens import HookedTransformer, HookedTransformerConfig
    tl_cfg = HookedTransformerConfig(
        n_layers=cfg.n_layers, d_model=cfg.d_model, n_ctx=cfg.n_ctx, d_head=cfg.d_model // cfg.n_heads,
        n_heads=cfg.n_heads, d_mlp=cfg.d_mlp, d_vocab=vocab_size, act_fn="gelu", normalization_type="LN",
        positional_embedding_type="standard", seed=seed, device="cpu", default_prepend_bos=False)
    return HookedTransformer(tl_cfg)


def save_toy_model(lm: LanguageModel, cfg: ToyModelConfig, folder: str | Path, extra: dict[str, Any],
                   files: dict[str, str] | None = None) -> None:
    """model.safetensors, config.json (our ToyModelConfig, vocab size, `extra`), tokenizer/ and any
    further text `files` (name -> content), all in one atomic rename."""
    from safetensors.torch import save_file
    with atomic_path(folder) as tmp:
        tmp.mkdir()
        state = {k: v.detach().cpu().contiguous() for k, v in lm.model.state_dict().items()}
        save_file(state, str(tmp / MODEL_WEIGHTS))
        meta = {"model": dataclasses.asdict(cfg), "vocab_size": lm.model.cfg.d_vocab, **extra}
        (tmp / MODEL_CONFIG).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
        lm.tokenizer.save_pretrained(str(tmp / TOKENIZER_DIR))
        for name, text in (files or {}).items():
            (tmp / name).write_text(text)


def load_toy_model(folder: str | Path, device: str = "cpu", dtype: str = "float32") -> LanguageModel:
    from safetensors.torch import load_file

    from saesanity.config import from_dict
    from saesanity.lm.tokenizer import load_tokenizer
    folder = Path(folder)
    for name in (MODEL_WEIGHTS, MODEL_CONFIG, TOKENIZER_DIR):
        if not (folder / name).exists():
            raise FileNotFoundError(f"{folder}: no {name}; not a toy-world model folder (rule train_lm)")
    meta = json.loads((folder / MODEL_CONFIG).read_text())
    cfg = from_dict(ToyModelConfig, meta["model"], "model")
    model = build_toy_model(cfg, meta["vocab_size"], seed=0)
    model.load_state_dict(load_file(str(folder / MODEL_WEIGHTS)))
    model.to(resolve_device(device)).to(DTYPES[dtype]).eval()
    return LanguageModel(model, load_tokenizer(folder / TOKENIZER_DIR), name=folder.name)


def load_hf_model(name: str, device: str = "auto", dtype: str = "float32") -> LanguageModel:
    """A Hugging Face model through transformer_lens, without weight processing (no LayerNorm folding or
    centring), so hooked activations are the model's own. `name` is an official transformer_lens name
    (EleutherAI/pythia-70m) or a local folder with config.json, weights and tokenizer. Offline without the
    model in the cache: ModelNotAvailable, saying what to download."""
    if Path(name).is_dir():
        model = _load_local_hf(Path(name), resolve_device(device), DTYPES[dtype])
    else:
        from transformer_lens import HookedTransformer
        try:
            model = HookedTransformer.from_pretrained_no_processing(name, device=resolve_device(device),
                                                                    dtype=DTYPES[dtype])
        except Exception as err:  # hub, cache and conversion errors come as many types; all mean "not here"
            raise ModelNotAvailable(
                f"could not load the Hugging Face model {name!r} ({type(err).__name__}: {one_line(err)}). "
                f"It is not in the local cache and the hub could not be reached. On a machine with network run "
                f"`hf download {name}` (gated models such as google/gemma-2-2b need `hf auth login` and "
                f"accepted terms first), then copy ~/.cache/huggingface (or set HF_HOME) here; or set lm.hf_model "
                f"to a local folder holding the model's config.json, weights and tokenizer.") from err
    model.eval()
    return LanguageModel(model, model.tokenizer, name=Path(name).name if Path(name).is_dir() else name)


def _load_local_hf(folder: Path, device: str, dtype: torch.dtype):
    """transformer_lens's from_pretrained, minus the official-name lookup: its config and state-dict
    converters accept a local folder (the architecture comes from config.json), from_pretrained does not.
    They also guess the architecture from substrings of the name ("llama", "gemma" anywhere in the path:
    a folder below wt-gemma/ loaded as GemmaForCausalLM), so they see the folder through a neutral symlink,
    and the weights come in as a model loaded here."""
    import tempfile

    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoModelForCausalLM, AutoTokenizer
    with tempfile.TemporaryDirectory(prefix="saesanity-") as tmp:
        neutral = Path(tmp) / "model"
        neutral.symlink_to(folder.resolve(), target_is_directory=True)
        name = _tl_config_name(folder) or str(neutral)
        cfg = loading.get_pretrained_model_config(name, fold_ln=False, device=device, dtype=dtype)
        if name != str(neutral):
            _check_borrowed_config(folder, cfg)
        hf_model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=dtype)
        state = loading.get_pretrained_state_dict(str(neutral), cfg, hf_model, dtype=dtype)
    del hf_model
    model = HookedTransformer(cfg, tokenizer=AutoTokenizer.from_pretrained(str(folder)), move_to_device=False)
    _load_unprocessed(model, state)
    return model.to(device)


def _load_unprocessed(model, state: dict[str, torch.Tensor]) -> None:
    """What HookedTransformer.load_and_process_state_dict does with every processing step off, in one
    load_state_dict: it loads key by key, each call a walk of the whole module tree (7 of the 9 s that
    loading SmolLM2 took, in every job that loads it). Same parameters, bit for bit (tests/test_packaged_model.py)."""
    from transformer_lens.weight_processing import ProcessWeights
    state = ProcessWeights.process_weights(model.fill_missing_keys(state), model.cfg, fold_ln=False,
                                           center_writing_weights=False, center_unembed=False,
                                           fold_value_biases=False, refactor_factored_attn_matrices=False)
    model.load_state_dict(state, strict=False)


# transformer_lens 3.9 builds the config of these architectures from the official name only (its config.json
# converter refuses them: "Gemma3ForCausalLM is not currently supported"); a local folder holding one borrows
# that name's config (no download: the converter writes those configs out by hand), checked against the
# folder's config.json. Keyed by (architecture, layers, width).
_TL_CONFIG_BY_SHAPE = {("Gemma3ForCausalLM", 18, 640): "google/gemma-3-270m"}


def _tl_config_name(folder: Path) -> str | None:
    """The official name whose config a local folder borrows; None: transformer_lens reads config.json."""
    hf = json.loads((folder / "config.json").read_text())
    shape = ((hf.get("architectures") or [None])[0], hf.get("num_hidden_layers"), hf.get("hidden_size"))
    return _TL_CONFIG_BY_SHAPE.get(shape)


def _check_borrowed_config(folder: Path, cfg) -> None:
    """A borrowed config must describe the folder's model: a fine-tune with other RoPE bases or windows would
    otherwise run with the wrong ones, silently."""
    hf = json.loads((folder / "config.json").read_text())
    rope = hf.get("rope_parameters") or {}
    want = {"d_vocab": hf["vocab_size"], "n_heads": hf["num_attention_heads"], "d_head": hf["head_dim"],
            "n_key_value_heads": hf["num_key_value_heads"], "d_mlp": hf["intermediate_size"],
            "window_size": hf["sliding_window"], "attn_scale": hf["query_pre_attn_scalar"] ** 0.5,
            "rotary_base": rope.get("full_attention", {}).get("rope_theta"),
            "rotary_base_local": rope.get("sliding_attention", {}).get("rope_theta"),
            "attn_types": ["global" if t == "full_attention" else "local" for t in hf["layer_types"]]}
    wrong = {k: (getattr(cfg, k), v) for k, v in want.items() if getattr(cfg, k) != v}
    if wrong:
        raise ValueError(f"{folder}: transformer_lens's config for {cfg.model_name} differs from config.json "
                         f"(field: (transformer_lens, config.json)): {wrong}")


def load_model(spec: ModelSpec) -> LanguageModel:
    if spec.kind == "toyworld":
        lm = load_toy_model(spec.path, spec.device, spec.dtype)
    else:
        lm = load_hf_model(spec.path, spec.device, spec.dtype)
    if spec.n_ctx is not None:
        lm = LanguageModel(lm.model, lm.tokenizer, lm.name, spec.n_ctx)
    return lm
