"""The offline demonstration's "external" SAEs (config `sanity.saes[].example`): one of the pipeline's own
trained SAEs written by another library, SAELens and sparsify through their own save functions, so that the
readers are exercised on files those libraries produced."""

from __future__ import annotations

from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.external import write
from saesanity.sae.io import load_sae

WRITERS = {"saelens": write.write_saelens, "sparsify": write.write_sparsify,
           "dictionary_learning": write.write_dictionary_learning}


def write_example(sae_dir: str | Path, fmt: str, out: str | Path, model: str, hook: str) -> None:
    """Writes the SAE in `sae_dir` to the folder `out` in format `fmt`, atomically (a killed job leaves no
    folder that a reader would take for finished)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown example format {fmt!r}; known: {sorted(WRITERS)}")
    sae = load_sae(sae_dir)
    with atomic_path(out) as tmp:
        WRITERS[fmt](sae, tmp, model=model, hook=hook)
