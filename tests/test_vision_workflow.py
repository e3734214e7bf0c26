"""The vision part end to end (docs/vision.md): the opt-in target results/vision on a tiny toy-ViT config and on
a tiny random CLIP checkpoint with a generated image folder, each in a copy of the workflow; and the default
targets ask for no vision job."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from snakemake_runs import copy_workflow, job_counts, snakemake

pytestmark = pytest.mark.workflow

VISION_RULES = {"vision_world", "train_vit", "vision_harvest", "eval_vision", "vision_concepts_reference",
                "vision_report"}
TINY_SAES = {"d_sae": 64, "target_l0": 4, "architectures": ["batchtopk"], "seeds": [0],
             "baselines": ["frozen_decoder-iso", "frozen_encoder-cov"], "baseline_seeds": [0],
             "train": {"n_samples": 8192, "batch_size": 512, "lr": 0.003, "shuffle_buffer": 4096,
                       "stats_samples": 4096, "log_every": 4},
             "arch": {"batchtopk": {"dead_after": 4096}},
             # 16 steps cannot hold BatchTopK's L0 to 10% on a store this small; the contract, not the fit, is tested.
             "l0_match": {"tolerance": 0.5}}
TINY_EVAL = {"n_images": 40, "n_probe_train": 60, "n_probe_test": 40, "n_latents": 10, "n_explain": 4,
             "n_activating": 5, "n_random": 5, "n_background": 50, "train_images": 60}


def test_default_targets_hold_no_vision_job(tmp_path):
    root = copy_workflow(tmp_path / "wf")
    for target in ("results/figures", "all"):
        counts = job_counts(snakemake(root, "-n", target).stdout)
        assert counts and not VISION_RULES & set(counts), target
    counts = job_counts(snakemake(root, "-n", "results/vision").stdout)
    assert {"vision_world", "train_vit", "vision_harvest", "eval_vision", "vision_report", "train",
            "eval_core"} <= set(counts)


def test_bad_vision_configs_stop_before_any_job(tmp_path):
    root = copy_workflow(tmp_path / "wf")
    cases = [({"vision": {"hooks": ["blocks.3.hook_resid_pre"]}}, "past the last block"),
             ({"vision": {"kind": "clip"}}, "vision.clip_model is required")]
    for i, (overlay, message) in enumerate(cases):
        (root / f"bad{i}.yaml").write_text(yaml.safe_dump(overlay))
        proc = snakemake(root, "-n", "results/vision", "--configfile", f"bad{i}.yaml", check=False)
        assert proc.returncode != 0 and message in proc.stdout + proc.stderr, message


def test_toy_vit_vision_target_end_to_end(tmp_path):
    root = copy_workflow(tmp_path / "wf")
    (root / "mine.yaml").write_text(yaml.safe_dump({
        "saes": {"vision": TINY_SAES},
        "vision": {"world": {"n_train_images": 200, "n_heldout_images": 80},
                   "model": {"patch_size": 8, "d_model": 32, "n_layers": 2, "n_heads": 2, "d_mlp": 64},
                   "train": {"steps": 30, "warmup_steps": 5}, "harvest": {"n_train_images": 200,
                                                                          "n_heldout_images": 80},
                   "eval": TINY_EVAL}}))
    snakemake(root, "results/vision", "--configfile", "mine.yaml")
    out = root / "results/vision"
    assert {"vision_table2.csv", "vision_model.csv", "vision_concepts.csv", "vision_table2.png",
            "vision_table2.pdf"} <= {p.name for p in out.iterdir()}
    concepts = pd.read_csv(out / "vision_concepts.csv")
    per_sae = concepts.groupby(["arch", "variant", "seed"]).concept.nunique()
    assert len(per_sae) == 3 + 2 and (per_sae == per_sae.iloc[0]).all() and concepts.f1.between(0, 1).all()
    table = pd.read_csv(out / "vision_table2.csv")
    saes = table[table.arch != "reference"]
    assert set(saes.variant) == {"trained", "frozen_decoder-iso", "frozen_encoder-cov"}
    assert set(saes.source) == {"vision-toyvit-blocks.1.hook_resid_pre"}
    means = saes[saes.seed == "mean"].pivot_table(index="variant", columns="metric", values="value")
    for metric in ("explained_variance", "l0", "loss_recovered", "sparse_probing_top1", "sparse_probing_top5",
                   "concepts_detected", "concepts_detected_count", "detection"):
        assert means[metric].notna().all(), metric
    assert means.sparse_probing_top1.between(0, 1).all() and means.concepts_detected.between(0, 1).all()
    assert set(table[table.arch == "reference"].variant) == {"ideal", "random"}
    assert table.paper_value.isna().all() and (table[table.seed == "mean"].paper_note.str.len() > 0).any()
    model = pd.read_csv(out / "vision_model.csv")
    assert set(model.split) == {"heldout", "train_subset"} and model.value.notna().all()
    # Nothing left to do: the vision jobs' specs are stable.
    assert job_counts(snakemake(root, "-n", "results/vision", "--configfile", "mine.yaml").stdout) == {}


def test_clip_preset_end_to_end_on_a_tiny_random_checkpoint(tmp_path):
    import torch
    from PIL import Image
    from transformers import CLIPVisionConfig, CLIPVisionModel
    root = copy_workflow(tmp_path / "wf")
    torch.manual_seed(0)
    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=3, num_attention_heads=4,
                           image_size=32, patch_size=8)
    CLIPVisionModel(cfg).save_pretrained(root / "models/tiny-clip")
    rng = np.random.default_rng(0)
    for cls, tint in (("reds", (200, 30, 30)), ("blues", (30, 30, 200))):
        (root / "data/images" / cls).mkdir(parents=True)
        for i in range(40):
            pixels = np.clip(rng.normal(tint, 40, (48, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / "data/images" / cls / f"{i:03d}.png")
    preset = yaml.safe_load((root / "presets/clip.yaml").read_text())
    preset["vision"].update({"name": "tiny-clip", "clip_model": "models/tiny-clip", "d_model": 32,
                             "hooks": ["blocks.1.hook_resid_pre"], "device": "cpu", "folder": {"n_heldout": 20},
                             "harvest": {"n_train_images": 60, "n_heldout_images": 20}, "eval": TINY_EVAL})
    preset["saes"]["vision"] = TINY_SAES
    (root / "mine.yaml").write_text(yaml.safe_dump(preset))
    snakemake(root, "results/vision", "--configfile", "mine.yaml")
    table = pd.read_csv(root / "results/vision/vision_table2.csv")
    means = table[table.seed == "mean"].pivot_table(index="variant", columns="metric", values="value",
                                                    dropna=False)
    assert means.explained_variance.notna().all() and means.loss_recovered.notna().all()
    assert means.sparse_probing_top1.notna().all() and means.concepts_detected.isna().all()
    assert not (root / "results/vision/vision_model.csv").exists()
    assert not (root / "results/vision/vision_concepts.csv").exists()

    # Without the weights: the harvest job stops, naming what to download.
    (root / "other.yaml").write_text(yaml.safe_dump({**preset, "vision": {**preset["vision"], "name": "gone",
                                                                          "clip_model": "models/gone"}}))
    proc = snakemake(root, "results/vision", "--configfile", "other.yaml", check=False)
    assert proc.returncode != 0
    log = (root / "results/logs/vision_harvest/gone/blocks.1.hook_resid_pre.log").read_text()
    assert "openai/clip-vit-base-patch32" in log and "save_pretrained" in log
