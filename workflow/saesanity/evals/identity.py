"""The identity every per-SAE metrics JSON starts with, read from the SAE's cfg.json: one reader for every
evaluation family, so that the tables can join their records on the same keys."""

from __future__ import annotations

import json
from pathlib import Path

from saesanity.sae.io import CFG

SANITY = "sanity"
"""cfg.json metadata key (and identity field) of a sanity check's SAEs, the imported one and its baselines:
the check's name (config `sanity.saes[].name`)."""


def sae_identity(folder: str | Path) -> dict:
    """source, arch, variant, seed, target L0, d_sae and initialisation seed of a saved SAE (cfg.json), and for
    a sanity check's SAE the check's name (`sanity`), so that the verdict groups the records by their own
    content rather than by their paths."""
    raw = json.loads((Path(folder) / CFG).read_text())
    ours = raw["saesanity"]
    init_seed = ours.get("init_seed")
    identity = {"source": raw["metadata"].get("source", ""), "arch": ours["arch"], "variant": ours["variant"],
                "seed": ours["seed"], "target_l0": ours["target_l0"], "d_sae": ours["d_sae"],
                "init_seed": ours["seed"] if init_seed is None else init_seed}
    # Only where set: every other SAE's records stay as they were.
    if SANITY in raw["metadata"]:
        identity[SANITY] = raw["metadata"][SANITY]
    return identity
