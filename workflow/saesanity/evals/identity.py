"""The identity every per-SAE metrics JSON starts with, read from the SAE's cfg.json: one reader for every
evaluation family, so that the tables can join their records on the same keys."""

from __future__ import annotations

import json
from pathlib import Path

from saesanity.sae.io import CFG


def sae_identity(folder: str | Path) -> dict:
    """source, arch, variant, seed, target L0, d_sae and initialisation seed of a saved SAE (cfg.json)."""
    raw = json.loads((Path(folder) / CFG).read_text())
    ours = raw["saesanity"]
    init_seed = ours.get("init_seed")
    return {"source": raw["metadata"].get("source", ""), "arch": ours["arch"], "variant": ours["variant"],
            "seed": ours["seed"], "target_l0": ours["target_l0"], "d_sae": ours["d_sae"],
            "init_seed": ours["seed"] if init_seed is None else init_seed}
