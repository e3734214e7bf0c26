"""The vision part (docs/vision.md): the toy world's images and their per-patch concepts, the adapter over the
toy ViT and CLIP, the harvest store, the splice, the concept check, the image folder's errors."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from saesanity.config import ConfigError
from saesanity.data.store import ActivationStore
from saesanity.vision.evals import concepts_metrics, read_store_images, splice_metrics
from saesanity.vision.harvest import harvest_images
from saesanity.vision.images import ImageSource, folder_files, load_images
from saesanity.vision.model import (ToyViT, ToyViTConfig, VisionModel, VisionModelNotAvailable, load_clip,
                                    load_toy_vit, save_toy_vit)
from saesanity.vision.world import VisionWorld, VisionWorldConfig, WorldImages, _mask, draw, generate, read_world

SMALL = ToyViTConfig(image_size=32, patch_size=8, d_model=16, n_layers=2, n_heads=2, d_mlp=32)


@pytest.fixture(scope="module")
def world_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("vision") / "world"
    generate(VisionWorldConfig(n_train_images=40, n_heldout_images=12, seed=3), out)
    return out


def test_world_is_deterministic_and_splits_are_independent(world_dir, tmp_path):
    generate(VisionWorldConfig(n_train_images=40, n_heldout_images=12, seed=3), tmp_path / "again")
    assert (tmp_path / "again/images.parquet").read_bytes() == (world_dir / "images.parquet").read_bytes()
    # More training images leave the held-out ones as they were (one generator per split).
    generate(VisionWorldConfig(n_train_images=50, n_heldout_images=12, seed=3), tmp_path / "more")
    a, b = read_world(world_dir, "heldout"), read_world(tmp_path / "more", "heldout")
    assert np.array_equal(a.pixels_NHW3, b.pixels_NHW3) and a.objects == b.objects
    train = read_world(world_dir, "train")
    assert len(train) == 40 and train.pixels_NHW3.shape == (40, 32, 32, 3) and train.pixels_NHW3.dtype == np.uint8
    assert set(a.image_ids) == set(range(40, 52))


def test_objects_are_drawn_where_the_map_says_in_their_colour():
    world = VisionWorld.load()
    img, objmap, objects = draw(world, np.random.default_rng(0))
    assert 1 <= len(objects) <= world.max_objects and objmap.max() == len(objects)
    for i, o in enumerate(objects, start=1):
        mask = objmap == i
        assert mask.any()
        rows, cols = np.nonzero(mask)
        half = world.image_size // 2
        quadrant = world.positions[(rows.min() // half) * 2 + cols.min() // half]
        assert quadrant == o["position"] and rows.max() // half == rows.min() // half
        colour = np.asarray(world.colours[o["colour"]], float)
        pixels = img[mask].astype(float)
        if o["texture"] == "solid":
            assert np.abs(pixels.mean(0) - colour).max() < 6  # noise std 8, averaged over the object's pixels
        else:
            assert (np.abs(pixels - colour).max(1) < 40).any() and (np.abs(pixels - colour * world.stripe_dim)
                                                                    .max(1) < 40).any()
    # The shapes by their pixel counts: a square of half-extent 4 is 7x7, a cross of half-extent 7 two bars.
    dy, dx = np.mgrid[-10:11, -10:11]
    assert _mask("square", 4, dy, dx).sum() == 49
    assert _mask("cross", 7, dy, dx).sum() == 2 * 15 * 5 - 25
    assert _mask("circle", 4, dy, dx).sum() == 49  # lattice points with y^2 + x^2 <= 16


def test_patch_concepts_by_hand():
    world = VisionWorld.load()
    objmap = np.zeros((1, 32, 32), np.uint8)
    objmap[0, 0:4, 0:4] = 1     # patch 0 (4x4 patches) fully covered
    objmap[0, 4, 0:4] = 1       # patch 8: 4 of 16 pixels = patch_cover 0.25: covered
    objmap[0, 8, 0:3] = 1       # patch 16: 3 of 16 pixels: background
    objmap[0, 20:24, 28:32] = 2  # patch 5 * 8 + 7 = 47, second object
    objects = [[{"shape": "circle", "colour": "red", "size": "small", "texture": "solid", "position": "top_left"},
                {"shape": "cross", "colour": "blue", "size": "large", "texture": "striped",
                 "position": "bottom_right"}]]
    w = WorldImages(world, np.array([7]), np.zeros((1, 32, 32, 3), np.uint8), objmap, objects)
    concepts = w.patch_concepts(4)[0]
    first = {"shape=circle", "colour=red", "size=small", "texture=solid", "position=top_left", "count=2"}
    assert len(concepts) == 64
    assert concepts[0] == first and concepts[8] == first
    assert concepts[16] == {"background", "count=2"} and concepts[1] == {"background", "count=2"}
    assert concepts[47] == {"shape=cross", "colour=blue", "size=large", "texture=striped", "position=bottom_right",
                            "count=2"}
    names, y = w.labels_NL()
    assert y.sum() == 10 and y[0, names.index("shape=circle")] == 1 and y[0, names.index("shape=square")] == 0
    with pytest.raises(ConfigError, match="does not divide"):
        w.patch_concepts(5)


def _toy(seed: int = 0) -> VisionModel:
    torch.manual_seed(seed)
    model = ToyViT(SMALL, 17, 3)
    return VisionModel("toyvit", model, "toy", SMALL.image_size, SMALL.patch_size, SMALL.d_model, SMALL.n_layers)


def test_images_of_the_wrong_size_are_refused(world_dir):
    with pytest.raises(ConfigError, match="set vision.model.image_size"):
        load_images(ImageSource("world", str(world_dir)), "train", 64, 8)


def test_toy_vit_shapes_hooks_and_save_load(world_dir, tmp_path):
    vm = _toy()
    images = load_images(ImageSource("world", str(world_dir)), "heldout", 32, SMALL.patch_size)
    act = vm.activations(images.pixels_NHW3[:5], "blocks.1.hook_resid_pre")
    assert act.shape == (5, 17, 16)  # CLS + 4x4 patches
    clean = vm.outputs(images.pixels_NHW3[:5])
    assert clean.shape == (5, 20)
    assert torch.equal(vm.outputs(images.pixels_NHW3[:5], "blocks.1.hook_resid_pre", lambda x: x), clean)
    assert not torch.allclose(vm.outputs(images.pixels_NHW3[:5], "blocks.1.hook_resid_pre", torch.zeros_like), clean)
    with pytest.raises(ConfigError, match="not a hook point"):
        vm.activations(images.pixels_NHW3[:1], "blocks.2.hook_resid_pre")
    with pytest.raises(ConfigError, match="uint8 images of shape"):
        vm.activations(np.zeros((1, 16, 16, 3), np.uint8), "blocks.1.hook_resid_pre")
    save_toy_vit(vm.model, tmp_path / "vit", {})
    again = load_toy_vit(tmp_path / "vit")
    assert torch.equal(again.activations(images.pixels_NHW3[:5], "blocks.1.hook_resid_pre"), act)


def test_harvest_store_contract(world_dir, tmp_path):
    vm = _toy()
    images = load_images(ImageSource("world", str(world_dir)), "train", 32, SMALL.patch_size).head(10)
    n = harvest_images(vm, "blocks.0.hook_resid_pre", images, tmp_path / "store", batch_images=4, shard_rows=50)
    store = ActivationStore.open(tmp_path / "store")
    assert n == store.count == 10 * 17 and store.d == 16 and store.meta["tokens_per_image"] == 17
    assert store.meta["hook"] == "blocks.0.hook_resid_pre" and len(store.shards) == 4
    table = pq.read_table(store.shards[0])
    assert table.column_names == ["act", "image", "patch"] and table["patch"].to_pylist()[:18] == [*range(17), 0]
    read = read_store_images(store)
    assert np.array_equal(read.image_ids, images.image_ids)
    expect = vm.activations(images.pixels_NHW3, "blocks.0.hook_resid_pre").numpy()
    np.testing.assert_allclose(read.x_NTD, expect, rtol=0, atol=1e-6)


def test_splice_with_identity_recovers_everything(world_dir):
    vm = _toy()
    images = load_images(ImageSource("world", str(world_dir)), "heldout", 32, SMALL.patch_size)
    m = splice_metrics(vm, "blocks.1.hook_resid_pre", images, lambda x: x, batch=5)
    assert m["loss_sae"] == m["loss_clean"] and m["loss_zero"] != m["loss_clean"]
    assert m["loss_recovered"] == 1.0 and m["n_images"] == 12
    if m["accuracy_zero"] != m["accuracy_clean"]:
        assert m["accuracy_recovered"] == 1.0
    zero = splice_metrics(vm, "blocks.1.hook_resid_pre", images, torch.zeros_like, batch=5)
    assert zero["loss_recovered"] == 0.0


def test_concept_check_finds_a_planted_detector():
    # 6 rows; concept a on rows 0-2, b on rows 3-4; latent 1 fires exactly on a, latent 0 on rows 3-5 (F1 0.8).
    names = ["a", "b", "c"]
    c = np.zeros((6, 3), bool)
    c[:3, 0] = c[3:5, 1] = True
    c[5, 2] = True
    z = torch.zeros(6, 4)
    z[:3, 1] = 1.0
    z[3:6, 0] = 2.0
    rec = concepts_metrics(z, names, c, 0.8)
    by = {r["concept"]: r for r in rec["concepts"]}
    assert by["a"]["f1"] == 1.0 and by["a"]["best_latent"] == 1
    assert by["b"]["f1"] == pytest.approx(0.8) and rec["n_detected"] == 2 and rec["n_concepts"] == 3
    assert rec["fraction_detected"] == pytest.approx(2 / 3) and rec["n_patches"] == 6


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModel
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("clip") / "tiny-clip"
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                           image_size=32, patch_size=8, projection_dim=16)
    CLIPVisionModel(cfg).save_pretrained(folder)
    return folder


def test_clip_adapter_on_a_tiny_random_checkpoint(tiny_clip, world_dir):
    vm = load_clip(tiny_clip)
    assert (vm.d_model, vm.n_tokens, vm.n_layers) == (32, 17, 3)
    pixels = read_world(world_dir, "heldout").pixels_NHW3[:4]
    act = vm.activations(pixels, "blocks.2.hook_resid_pre")
    with torch.no_grad():
        ref = vm.model(pixel_values=vm.inputs(pixels), output_hidden_states=True).hidden_states[2]
    assert act.shape == (4, 17, 32) and torch.allclose(act, ref, atol=1e-6)
    clean = vm.outputs(pixels)
    assert torch.allclose(vm.outputs(pixels, "blocks.2.hook_resid_pre", lambda x: x), clean, atol=1e-6)
    loss, acc = vm.downstream(clean, clean, None)
    assert acc is None and np.abs(loss).max() < 1e-6
    images = load_images(ImageSource("world", str(world_dir)), "heldout", 32, 8)
    m = splice_metrics(vm, "blocks.1.hook_resid_pre", images, lambda x: x)
    assert m["loss_clean"] < 1e-6 and m["loss_zero"] > 0 and m["loss_recovered"] == pytest.approx(1.0, abs=1e-5)
    assert m["accuracy_recovered"] is None


def test_missing_clip_weights_say_what_to_download(tmp_path):
    with pytest.raises(VisionModelNotAvailable, match="openai/clip-vit-base-patch32"):
        load_clip(tmp_path / "nothing-here")


def test_image_folder_errors_and_reading(tmp_path):
    from PIL import Image
    with pytest.raises(ConfigError, match="does not exist"):
        folder_files(tmp_path / "missing")
    (tmp_path / "empty/cats").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no .png or .jpg"):
        folder_files(tmp_path / "empty")
    (tmp_path / "flat").mkdir()
    with pytest.raises(ConfigError, match="no class subfolders"):
        folder_files(tmp_path / "flat")
    root = tmp_path / "images"
    rng = np.random.default_rng(0)
    for cls in ("cats", "dogs"):
        (root / cls).mkdir(parents=True)
        for i in range(5):
            Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(root / cls / f"{i}.png")
    (root / "dogs/broken.jpg").write_text("not an image")
    with pytest.raises(ConfigError, match="cannot read image"):
        load_images(ImageSource("folder", str(root), n_heldout=3), "train", 32, 8)
    (root / "dogs/broken.jpg").unlink()
    train = load_images(ImageSource("folder", str(root), n_heldout=3), "train", 32, 8)
    held = load_images(ImageSource("folder", str(root), n_heldout=3), "heldout", 32, 8)
    assert train.pixels_NHW3.shape == (7, 32, 32, 3) and len(held) == 3
    assert set(train.image_ids) | set(held.image_ids) == set(range(10)) and train.concepts is None
    assert sorted(held.probe_labels) == ["class:cats", "class:dogs"]
