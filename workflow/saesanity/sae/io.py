"""Checkpoints in the SAELens/SAEBench layout: a folder with cfg.json and sae_weights.safetensors.

cfg.json carries SAELens's fields for the inference architecture (so `sae_lens.SAE.load_from_disk` loads
it) and, under "saesanity", our full SAEConfig, so that we rebuild the exact training-time class."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file

from saesanity.atomic import atomic_path
from saesanity.config import SAEConfig, from_dict
from saesanity.sae.base import SAE
from saesanity.sae.layout import CFG, WEIGHTS
from saesanity.sae.registry import build_sae

# The SAELens cfg.json format version we write (the layout of sae_lens >= 6).
SAELENS_FORMAT = "6.0.0"


TRAINING = "saesanity_training"
"""cfg.json's record of how training went (saesanity.train: activation scale, calibration, cone, init)."""


def saelens_cfg(sae: SAE, metadata: dict[str, Any], training: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg = sae.cfg
    return {
        "architecture": sae.saelens_architecture,
        "d_in": cfg.d_in,
        "d_sae": cfg.d_sae,
        "dtype": "float32",
        "device": "cpu",
        "apply_b_dec_to_input": True,
        "normalize_activations": "none",
        "reshape_activations": "none",
        **sae.saelens_cfg_fields(),
        "metadata": {"sae_lens_version": SAELENS_FORMAT, "sae_lens_training_version": SAELENS_FORMAT,
                     **metadata},
        "saesanity": dataclasses.asdict(cfg),
        TRAINING: training or {},
    }


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def save_sae(sae: SAE, folder: str | Path, metadata: dict[str, Any] | None = None,
             training: dict[str, Any] | None = None) -> None:
    """Writes the weights, then cfg.json with their SHA-256, each atomically: a folder whose cfg.json does
    not match its weights (a run killed between the two renames) is refused by load_sae. `training` is
    saesanity.train's summary of the run (cfg.json's `saesanity_training`)."""
    folder = Path(folder)
    tensors = {k: v.detach().contiguous().float() for k, v in sae.saelens_tensors().items()}
    with atomic_path(folder / WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    cfg = saelens_cfg(sae, {**(metadata or {}), "weights_sha256": _sha256(folder / WEIGHTS)}, training)
    with atomic_path(folder / CFG) as tmp:
        tmp.write_text(json.dumps(cfg, indent=1, sort_keys=True) + "\n")


def load_sae(folder: str | Path) -> SAE:
    folder = Path(folder)
    for name in (CFG, WEIGHTS):
        if not (folder / name).is_file():
            raise FileNotFoundError(f"{folder}: no {name}; not an SAE checkpoint")
    raw = json.loads((folder / CFG).read_text())
    if "saesanity" not in raw:
        raise ValueError(f"{folder / CFG}: no 'saesanity' section; not written by saesanity")
    expected = raw.get("metadata", {}).get("weights_sha256")
    if expected and expected != _sha256(folder / WEIGHTS):
        raise ValueError(f"{folder}: {WEIGHTS} does not match the hash in {CFG}; the folder mixes two runs")
    sae = build_sae(from_dict(SAEConfig, raw["saesanity"], "saesanity"))
    sae.load_saelens_tensors(load_file(str(folder / WEIGHTS)))
    return sae.eval()


def read_training(folder: str | Path) -> dict[str, Any]:
    """cfg.json's `saesanity_training` (empty for a folder written before it existed)."""
    return json.loads((Path(folder) / CFG).read_text()).get(TRAINING, {})
