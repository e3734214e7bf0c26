"""Checkpoints in the SAELens/SAEBench layout: our round trip, and loading by sae_lens itself."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from saesanity.config import SAEConfig
from saesanity.sae.io import load_sae, save_sae
from saesanity.sae.registry import ARCHITECTURES, build_sae

sae_lens = pytest.importorskip("sae_lens")

D_IN, D_SAE, K = 16, 64, 5


def _random_sae(arch: str, seed: int = 0):
    """An SAE with random weights (unit decoder rows), a threshold that is set, and pre-activations that
    are negative for a good share of the latents."""
    cfg = SAEConfig(arch=arch, d_in=D_IN, d_sae=D_SAE, target_l0=K, variant="soft_frozen_decoder-iso", seed=seed,
                    options={"control_rate": 0.02} if arch in ("relu", "jumprelu") else {})
    sae = build_sae(cfg)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        sae.W_enc.copy_(torch.randn(D_IN, D_SAE, generator=gen) / D_IN ** 0.5)
        W = torch.randn(D_SAE, D_IN, generator=gen)
        sae.W_dec.copy_(W / W.norm(dim=1, keepdim=True))
        sae.b_enc.copy_(torch.randn(D_SAE, generator=gen) - 0.5)
        sae.b_dec.copy_(torch.randn(D_IN, generator=gen))
        if arch == "jumprelu":
            sae.threshold.copy_(torch.rand(D_SAE, generator=gen))
        if arch == "topk":  # few positive pre-activations: some rows have fewer than k
            sae.b_enc.fill_(-3.0)
            sae.b_enc[:3] = 1.0
    if arch == "batchtopk":  # set the global threshold the way training does
        sae.training_forward(torch.randn(32, D_IN, generator=gen))
        assert float(sae.threshold) > 0
    return sae.eval()


def _x(n: int = 50) -> torch.Tensor:
    return 2 * torch.randn(n, D_IN, generator=torch.Generator().manual_seed(99))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_round_trip(tmp_path, arch):
    sae = _random_sae(arch)
    save_sae(sae, tmp_path, {"hook_name": "blocks.0.hook_resid_post"})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cfg.json", "sae_weights.safetensors"]
    loaded = load_sae(tmp_path)
    assert type(loaded) is type(sae) and loaded.cfg == sae.cfg
    assert not loaded.training
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if hasattr(sae, "threshold") else [])
    for name in names:
        assert torch.equal(getattr(loaded, name), getattr(sae, name)), name
    x = _x()
    with torch.no_grad():
        assert torch.equal(loaded.encode(x), sae.encode(x))
        assert torch.equal(loaded(x), sae(x))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_saelens_layout(tmp_path, arch):
    sae = _random_sae(arch)
    save_sae(sae, tmp_path, {"hook_name": "h", "model_name": "m"})
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    expected_arch = {"relu": "standard", "topk": "topk", "batchtopk": "jumprelu", "jumprelu": "jumprelu"}[arch]
    assert cfg["architecture"] == expected_arch
    assert (cfg["d_in"], cfg["d_sae"]) == (D_IN, D_SAE)
    assert cfg["dtype"] == "float32" and cfg["apply_b_dec_to_input"] is True
    assert cfg["normalize_activations"] == "none"
    assert cfg["metadata"]["hook_name"] == "h" and cfg["metadata"]["model_name"] == "m"
    assert "sae_lens_version" in cfg["metadata"]
    assert cfg["saesanity"]["arch"] == arch and cfg["saesanity"]["variant"] == "soft_frozen_decoder-iso"
    if arch == "topk":
        assert cfg["k"] == K and cfg["rescale_acts_by_decoder_norm"] is False
    tensors = load_file(str(tmp_path / "sae_weights.safetensors"))
    shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    expected = {"W_enc": (D_IN, D_SAE), "b_enc": (D_SAE,), "W_dec": (D_SAE, D_IN), "b_dec": (D_IN,)}
    if arch in ("batchtopk", "jumprelu"):
        expected["threshold"] = (D_SAE,)
    assert shapes == expected
    assert all(v.dtype == torch.float32 for v in tensors.values())
    torch.testing.assert_close(tensors["W_dec"].norm(dim=1), torch.ones(D_SAE))
    if arch == "batchtopk":  # the one global threshold, repeated for SAELens's per-latent JumpReLU
        assert torch.equal(tensors["threshold"], torch.full((D_SAE,), float(sae.threshold)))


@pytest.mark.parametrize("arch", sorted(ARCHITECTURES))
def test_saelens_loads_and_agrees(tmp_path, arch):
    sae = _random_sae(arch)
    save_sae(sae, tmp_path)
    theirs = sae_lens.SAE.load_from_disk(str(tmp_path))
    expected_cls = {"relu": "StandardSAE", "topk": "TopKSAE", "batchtopk": "JumpReLUSAE",
                    "jumprelu": "JumpReLUSAE"}[arch]
    assert type(theirs).__name__ == expected_cls
    x = torch.cat([_x(200), sae.b_dec.detach().expand(5, D_IN)])  # the last rows: pre-activations = b_enc
    with torch.no_grad():
        z_ours, z_theirs = sae.encode(x), theirs.encode(x)
        # The inputs exercise the interesting cases: latents off, and (for TopK) rows with fewer than k
        # positive pre-activations, where the order of ReLU and TopK would matter.
        assert 0 < (z_ours > 0).float().mean() < 0.5
        if arch == "topk":
            assert ((z_ours > 0).sum(1) < K).any() and ((z_ours > 0).sum(1) == K).any()
        torch.testing.assert_close(z_theirs, z_ours, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(theirs.decode(z_ours), sae.decode(z_ours), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(theirs(x), sae(x), atol=1e-5, rtol=1e-5)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="cfg.json"):
        load_sae(tmp_path)
    save_sae(_random_sae("topk"), tmp_path)
    cfg = json.loads((tmp_path / "cfg.json").read_text())
    del cfg["saesanity"]
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    with pytest.raises(ValueError, match="saesanity"):
        load_sae(tmp_path)


def test_folder_mixing_two_runs_is_refused(tmp_path):
    save_sae(_random_sae("relu", seed=0), tmp_path / "a")
    save_sae(_random_sae("relu", seed=1), tmp_path / "b")
    # As if a run were killed after renaming its weights but before its cfg.json.
    (tmp_path / "b" / "sae_weights.safetensors").replace(tmp_path / "a" / "sae_weights.safetensors")
    with pytest.raises(ValueError, match="does not match the hash"):
        load_sae(tmp_path / "a")
