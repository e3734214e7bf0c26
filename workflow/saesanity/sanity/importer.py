"""An SAE trained by another library, brought into our layout: the folder every per-SAE evaluation reads,
and reference.json, the held-out L0 its baselines are trained to (arXiv 2602.14111 compares SAEs at matched
L0)."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

from saesanity.atomic import read_json, write_json
from saesanity.data.store import ActivationStore
from saesanity.evals.core import evaluate_core
from saesanity.evals.identity import SANITY
from saesanity.external.describe import ExternalInfo, ExternalSAEError, describe
from saesanity.external.load import load_external
from saesanity.pipeline.paths import SANITY_REFERENCE
from saesanity.sae.io import save_sae


def import_external(folder: str | Path, heldout: str | Path, out: str | Path, name: str, source: str,
                    info: ExternalInfo | None = None) -> dict:
    """Loads the SAE, encodes the whole held-out store, and saves it in our layout with target_l0 set to
    the L0 it reaches there (TopK: its k, which it reaches exactly). Returns reference.json's content."""
    info = info or describe(folder)
    sae = load_external(folder, info)
    metrics = evaluate_core(sae, ActivationStore.open(heldout))
    if not math.isfinite(metrics.explained_variance) or metrics.l0 <= 0:
        raise ExternalSAEError(f"{folder}: sanity SAE {name!r} gives EV {metrics.explained_variance} and L0 "
                               f"{metrics.l0} on the held-out activations of {source}; it cannot be matched")
    target_l0 = float(info.k) if info.arch == "topk" and info.k else metrics.l0
    sae.cfg = dataclasses.replace(sae.cfg, target_l0=target_l0)
    reference = {"name": name, "source": source, "format": info.format, "folder": str(folder), "arch": info.arch,
                 "d_in": info.d_in, "d_sae": info.d_sae, "k": info.k, "model": info.model, "hook": info.hook,
                 "heldout_l0": metrics.l0, "heldout_explained_variance": metrics.explained_variance,
                 "target_l0": target_l0}
    save_sae(sae, out, metadata={"source": source, SANITY: name, "imported_from": str(folder),
                                 "format": info.format})
    write_json(Path(out) / SANITY_REFERENCE, reference)
    return reference


def read_target_l0(reference: str | Path) -> float:
    """The L0 a sanity check's baselines are trained to (reference.json's target_l0)."""
    return float(read_json(reference)["target_l0"])


def read_name(reference: str | Path) -> str:
    """The sanity check (config `sanity.saes[].name`) a reference.json belongs to: its baselines record it in
    their cfg.json as the imported SAE does."""
    return str(read_json(reference)["name"])
