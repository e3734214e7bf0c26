"""saesanity.external: SAEs saved by SAELens, sparsify and dictionary_learning, read into our classes, give the
library's own latents and reconstruction (max abs difference < 1e-5 on random weights with non-unit decoders,
nonzero biases and thresholds of both signs); our writers round-trip through the readers and the libraries;
folders we cannot read exactly are refused with an error naming the folder and the problem."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from saesanity.config import SAEConfig
from saesanity.external.describe import ExternalInfo, ExternalSAEError, describe
from saesanity.external.load import load_external
from saesanity.external.write import write_dictionary_learning, write_saelens, write_sparsify
from saesanity.sae.registry import build_sae

sae_lens = pytest.importorskip("sae_lens")
sparsify = pytest.importorskip("sparsify")

D, F, K, B = 16, 64, 6, 48
TOL = 1e-5
DL_DATA = Path(__file__).parent / "data/external/dictionary_learning"


def assert_close(ours: torch.Tensor, lib: torch.Tensor, what: str) -> None:
    assert ours.shape == lib.shape, f"{what}: shapes {ours.shape} vs {lib.shape}"
    diff = float((ours.float() - lib.float()).abs().max())
    print(f"{what}: max abs difference {diff:.3g}")
    assert diff < TOL, f"{what}: max abs difference {diff:.3g} >= {TOL}"


def inputs(seed: int = 1) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(B, D, generator=gen) * 2.0 + 0.5


def random_like(t: torch.Tensor, gen: torch.Generator, name: str) -> torch.Tensor:
    """Weights ~ N(0, 1/D) with rows scaled by [0.5, 2] (non-unit decoder), biases ~ N(0, 0.3), thresholds
    uniform in [-0.2, 0.6] (both signs)."""
    if "threshold" in name:
        return torch.rand(t.shape, generator=gen, dtype=torch.float64).to(t.dtype) * 0.8 - 0.2
    r = torch.randn(t.shape, generator=gen)
    if t.dim() == 2:
        return r / D ** 0.5 * (0.5 + 1.5 * torch.rand(t.shape[0], 1, generator=gen))
    return 0.3 * r


@torch.no_grad()
def randomise(module: torch.nn.Module, seed: int = 0) -> None:
    gen = torch.Generator().manual_seed(seed)
    for name, t in module.state_dict().items():
        if t.is_floating_point():
            t.copy_(random_like(t, gen, name))


def our_sae(arch: str, seed: int = 0):
    """One of our SAEs with random weights; BatchTopK's threshold and JumpReLU's thresholds >= 0 (what our
    training leaves, and what the libraries can hold)."""
    sae = build_sae(SAEConfig(arch, D, F, target_l0=K if arch in ("topk", "batchtopk") else 10))
    gen = torch.Generator().manual_seed(seed)
    tensors = {k: random_like(v, gen, k) for k, v in sae.saelens_tensors().items()}
    if "threshold" in tensors:
        tensors["threshold"] = tensors["threshold"].abs()
        if arch == "batchtopk":
            tensors["threshold"] = torch.full((F,), 0.4)
    sae.load_saelens_tensors(tensors)
    return sae.eval()


def saelens_metadata(**kw):
    from sae_lens.saes.sae import SAEMetadata
    return SAEMetadata(model_name="gpt2", hook_name="blocks.3.hook_resid_post", **kw)


def compare_saelens(folder: Path, x_BD: torch.Tensor, what: str, lib=None) -> None:
    """Our reader vs sae_lens.SAE.load_from_disk (or `lib`) on encode and decode."""
    lib = lib if lib is not None else sae_lens.SAE.load_from_disk(folder)
    ours = load_external(folder)
    with torch.no_grad():
        z_lib = lib.encode(x_BD)
        z_ours = ours.encode(x_BD)
        assert_close(z_ours, z_lib, f"{what} encode")
        assert_close(ours.decode(z_lib), lib.decode(z_lib), f"{what} decode")


# --- SAELens ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("apply_b_dec", [True, False])
@pytest.mark.parametrize("architecture", ["standard", "topk", "jumprelu"])
def test_saelens_inference_saes_give_the_library_latents(tmp_path, architecture, apply_b_dec):
    cls, cfg_cls = sae_lens.saes.sae.get_sae_class(architecture)
    extra = {"k": K} if architecture == "topk" else {}
    lib = cls(cfg_cls(d_in=D, d_sae=F, apply_b_dec_to_input=apply_b_dec, metadata=saelens_metadata(), **extra))
    randomise(lib)
    lib.save_model(tmp_path)
    info = describe(tmp_path)
    assert info == ExternalInfo(str(tmp_path), "saelens", {"standard": "relu"}.get(architecture, architecture),
                                D, F, K if architecture == "topk" else None, "gpt2", "blocks.3.hook_resid_post")
    compare_saelens(tmp_path, inputs(), f"SAELens {architecture} apply_b_dec_to_input={apply_b_dec}")
    ours = load_external(tmp_path)
    assert not ours.training and ours.cfg.target_l0 == (K if architecture == "topk" else F)


def test_saelens_topk_rescaled_by_decoder_norm_is_folded(tmp_path):
    lib = sae_lens.TopKSAE(sae_lens.TopKSAEConfig(d_in=D, d_sae=F, k=K, rescale_acts_by_decoder_norm=True))
    randomise(lib)
    lib.save_model(tmp_path)
    compare_saelens(tmp_path, inputs(), "SAELens topk rescale_acts_by_decoder_norm")


def test_saelens_batchtopk_training_checkpoint_and_inference_form(tmp_path):
    """A BatchTopK training checkpoint (architecture "batchtopk", scalar topk_threshold, decoder-norm
    rescaling) and its inference form (JumpReLU, one threshold) both read as our BatchTopK, and give the
    inference form's latents as SAELens computes them."""
    lib = sae_lens.BatchTopKTrainingSAE(sae_lens.BatchTopKTrainingSAEConfig(
        d_in=D, d_sae=F, k=K, rescale_acts_by_decoder_norm=True, metadata=saelens_metadata()))
    randomise(lib)
    lib.topk_threshold = torch.tensor(0.3, dtype=torch.double)
    lib.save_model(tmp_path / "train")
    lib.save_inference_model(tmp_path / "inference")
    inference = sae_lens.SAE.load_from_disk(tmp_path / "inference")
    assert inference.cfg.architecture() == "jumprelu"
    for sub in ("train", "inference"):
        info = describe(tmp_path / sub)
        assert (info.arch, info.k, info.model) == ("batchtopk", K, "gpt2")
        compare_saelens(tmp_path / sub, inputs(), f"SAELens batchtopk ({sub})", lib=inference)


@pytest.mark.parametrize("norm", ["layer_norm", "constant_norm_rescale", "expected_average_only_in"])
def test_saelens_input_normalisation_is_refused(tmp_path, norm):
    lib = sae_lens.StandardSAE(sae_lens.StandardSAEConfig(d_in=D, d_sae=F, normalize_activations=norm))
    lib.save_model(tmp_path)
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}.*normalize_activations '{norm}'"):
        describe(tmp_path)


def test_saelens_gated_is_refused_naming_the_supported(tmp_path):
    lib = sae_lens.GatedSAE(sae_lens.GatedSAEConfig(d_in=D, d_sae=F))
    lib.save_model(tmp_path)
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: SAELens architecture 'gated'.*supported: .*standard"):
        describe(tmp_path)


# --- sparsify -----------------------------------------------------------------------------------------------

def sparse_to_dense(top_acts_BK: torch.Tensor, top_indices_BK: torch.Tensor) -> torch.Tensor:
    return torch.zeros(len(top_acts_BK), F).scatter(-1, top_indices_BK, top_acts_BK)


def compare_sparsify(folder: Path, what: str) -> None:
    lib, ours, x_BD = sparsify.SparseCoder.load_from_disk(folder), load_external(folder), inputs()
    with torch.no_grad():
        top_acts, top_indices, _ = lib.encode(x_BD)
        z_lib = sparse_to_dense(top_acts, top_indices)
        assert_close(ours.encode(x_BD), z_lib, f"{what} encode")
        assert_close(ours.decode(z_lib), lib.decode(top_acts, top_indices), f"{what} decode")


def test_sparsify_topk_gives_the_library_latents(tmp_path):
    lib = sparsify.SparseCoder(D, sparsify.SparseCoderConfig(num_latents=F, k=K))
    randomise(lib)
    folder = tmp_path / "run" / "layers.3"
    lib.save_to_disk(folder)
    (tmp_path / "run" / "config.json").write_text(json.dumps({"model": "EleutherAI/pythia-70m"}))
    assert describe(folder) == ExternalInfo(str(folder), "sparsify", "topk", D, F, K, "EleutherAI/pythia-70m",
                                            "layers.3")
    compare_sparsify(folder, "sparsify topk")


@pytest.mark.parametrize("option, problem", [({"activation": "groupmax"}, "activation 'groupmax'"),
                                             ({"transcode": True}, "transcode true"),
                                             ({"skip_connection": True}, "skip_connection true")])
def test_sparsify_options_without_a_counterpart_are_refused(tmp_path, option, problem):
    sparsify.SparseCoder(D, sparsify.SparseCoderConfig(num_latents=F, k=K, **option)).save_to_disk(tmp_path)
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: sparsify {problem}"):
        describe(tmp_path)


# --- dictionary_learning (fixtures written by its own classes: tests/data/external/make_dictionary_learning.py)

@pytest.mark.parametrize("dict_class, arch", [("AutoEncoder", "relu"), ("AutoEncoderTopK", "topk"),
                                              ("BatchTopKSAE", "batchtopk"), ("JumpReluAutoEncoder", "jumprelu")])
def test_dictionary_learning_gives_the_library_latents(dict_class, arch):
    folder = DL_DATA / dict_class
    info = describe(folder)
    assert info == ExternalInfo(str(folder), "dictionary_learning", arch, D, F,
                                K if arch in ("topk", "batchtopk") else None, "EleutherAI/pythia-70m-deduped",
                                "resid_post_layer_3")
    x_BD = torch.load(DL_DATA / "x.pt")
    z_lib, x_hat_lib = torch.load(folder / "z.pt"), torch.load(folder / "x_hat.pt")
    ours = load_external(folder)
    with torch.no_grad():
        z = ours.encode(x_BD)
        assert_close(z, z_lib, f"dictionary_learning {dict_class} encode")
        assert_close(ours.decode(z), x_hat_lib, f"dictionary_learning {dict_class} decode")
    # JumpReluAutoEncoder: b_dec is not subtracted from the input (folded into b_enc), and some thresholds
    # are negative (act as 0): both must matter here for the test to test them.
    if arch == "jumprelu":
        state = torch.load(folder / "ae.pt")
        assert float(state["b_dec"].abs().max()) > 0.1 and float(state["threshold"].min()) < 0


def test_dictionary_learning_gated_is_refused():
    folder = DL_DATA / "GatedAutoEncoder"
    with pytest.raises(ExternalSAEError, match=f"{folder}: dictionary_learning dict_class 'GatedAutoEncoder' "
                                               r"has no exact counterpart.*supported: \['AutoEncoder'"):
        describe(folder)


# --- our writers, through our readers and the libraries --------------------------------------------------------

def assert_same_encode(a, b, what: str) -> None:
    x_BD = inputs(2)
    with torch.no_grad():
        z = a.encode(x_BD)
        assert_close(b.encode(x_BD), z, f"{what} encode")
        assert_close(b.decode(z), a.decode(z), f"{what} decode")


@pytest.mark.parametrize("arch", ["relu", "topk", "batchtopk", "jumprelu"])
def test_write_saelens_round_trips(tmp_path, arch):
    sae = our_sae(arch)
    write_saelens(sae, tmp_path, "gpt2", "blocks.1.hook_resid_post")
    info = describe(tmp_path)
    assert (info.arch, info.k, info.model, info.hook) == (arch, sae.cfg.target_l0 if arch in ("topk", "batchtopk")
                                                          else None, "gpt2", "blocks.1.hook_resid_post")
    assert_same_encode(sae, load_external(tmp_path), f"write_saelens {arch} -> load_external")
    assert_same_encode(sae, sae_lens.SAE.load_from_disk(tmp_path), f"write_saelens {arch} -> SAELens")


@pytest.mark.parametrize("arch", ["relu", "topk", "batchtopk", "jumprelu"])
def test_write_dictionary_learning_round_trips(tmp_path, arch):
    sae = our_sae(arch)
    write_dictionary_learning(sae, tmp_path, "EleutherAI/pythia-70m-deduped", 3, "resid_post_layer_3")
    info = describe(tmp_path)
    assert (info.arch, info.model, info.hook) == (arch, "EleutherAI/pythia-70m-deduped", "resid_post_layer_3")
    assert_same_encode(sae, load_external(tmp_path), f"write_dictionary_learning {arch} -> load_external")


def test_write_sparsify_round_trips(tmp_path):
    sae = our_sae("topk")
    write_sparsify(sae, tmp_path / "layers.1")
    assert describe(tmp_path / "layers.1").hook == "layers.1"
    assert_same_encode(sae, load_external(tmp_path / "layers.1"), "write_sparsify -> load_external")
    lib = sparsify.SparseCoder.load_from_disk(tmp_path / "layers.1")
    x_BD = inputs(2)
    with torch.no_grad():
        top_acts, top_indices, _ = lib.encode(x_BD)
        assert_close(sparse_to_dense(top_acts, top_indices), sae.encode(x_BD), "write_sparsify -> sparsify encode")


def test_write_sparsify_refuses_other_architectures(tmp_path):
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: sparsify stores TopK SAEs only.*'relu'"):
        write_sparsify(our_sae("relu"), tmp_path)


def test_writers_refuse_a_negative_threshold(tmp_path):
    sae = our_sae("jumprelu")
    with torch.no_grad():
        sae.threshold[3] = -0.1
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: .*negative threshold"):
        write_saelens(sae, tmp_path, None, None)


# --- bad input ----------------------------------------------------------------------------------------------

def test_folder_in_no_format_is_refused(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: in none of the formats.*weights.bin"):
        describe(tmp_path)
    with pytest.raises(ExternalSAEError, match=f"{tmp_path / 'absent'}: not a folder"):
        load_external(tmp_path / "absent")


def test_unreadable_config_is_refused(tmp_path):
    write_saelens(our_sae("relu"), tmp_path, None, None)
    (tmp_path / "cfg.json").write_text("{not json")
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: cannot read cfg.json"):
        describe(tmp_path)


def test_nan_weights_are_refused_naming_the_tensor(tmp_path):
    write_saelens(our_sae("topk"), tmp_path, None, None)
    tensors = load_file(tmp_path / "sae_weights.safetensors")
    tensors["b_enc"][5] = float("nan")
    save_file(tensors, tmp_path / "sae_weights.safetensors")
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: tensor 'b_enc' .* NaN or infinite"):
        load_external(tmp_path)


def test_shape_disagreeing_with_the_config_is_refused_naming_both(tmp_path):
    write_dictionary_learning(our_sae("relu"), tmp_path, None, 0)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cfg["trainer"]["dict_size"] = 2 * F
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ExternalSAEError, match=rf"{tmp_path}: tensor 'encoder.weight' in ae.pt has shape "
                                               rf"\[{F}, {D}\], but config.json says \[{2 * F}, {D}\]"):
        load_external(tmp_path)


def test_missing_tensor_is_refused(tmp_path):
    write_saelens(our_sae("jumprelu"), tmp_path, None, None)
    tensors = load_file(tmp_path / "sae_weights.safetensors")
    del tensors["threshold"]
    save_file(tensors, tmp_path / "sae_weights.safetensors")
    missing = rf"{tmp_path}: sae_weights.safetensors lacks tensor\(s\) \['threshold'\]"
    with pytest.raises(ExternalSAEError, match=missing):
        load_external(tmp_path)


def test_batchtopk_with_thresholds_that_vary_is_refused(tmp_path):
    write_saelens(our_sae("batchtopk"), tmp_path, None, None)
    tensors = load_file(tmp_path / "sae_weights.safetensors")
    tensors["threshold"][0] = 0.9
    save_file(tensors, tmp_path / "sae_weights.safetensors")
    with pytest.raises(ExternalSAEError, match=f"{tmp_path}: a BatchTopK SAE has one threshold"):
        load_external(tmp_path)


def test_describe_imports_no_torch():
    """The Snakefile imports describe while it builds the DAG; torch would cost seconds there."""
    code = ("import sys, saesanity.external.describe; "
            "sys.exit('torch imported' if 'torch' in sys.modules else 0)")
    subprocess.run([sys.executable, "-c", code], check=True)
