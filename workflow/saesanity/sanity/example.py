"""The offline demonstration's "external" SAEs (config `sanity.saes[].example`): one of the pipeline's own
trained SAEs written by another library, SAELens and sparsify through their own save functions, so that the
readers are exercised on files those libraries produced."""

from __future__ import annotations

import re
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.external.write import write_dictionary_learning, write_saelens, write_sparsify
from saesanity.sae.io import load_sae

WRITERS = {
    "saelens": lambda sae, folder, model, hook: write_saelens(sae, folder, model=model, hook=hook),
    # sparsify names a coder by its folder (the hook) and keeps the model in the run's config.json, which a
    # single coder's folder does not have.
    "sparsify": lambda sae, folder, model, hook: write_sparsify(sae, folder),
    "dictionary_learning": lambda sae, folder, model, hook: write_dictionary_learning(
        sae, folder, model=model, layer=layer_of(hook), hook=hook),
}


def layer_of(hook: str) -> int | None:
    """The block index of a transformer_lens hook name (blocks.3.hook_resid_post -> 3), dictionary_learning's
    `layer`; None for a hook outside the blocks."""
    match = re.match(r"blocks\.(\d+)\.", hook)
    return int(match.group(1)) if match else None


def write_example(sae_dir: str | Path, fmt: str, out: str | Path, model: str, hook: str) -> None:
    """Writes the SAE in `sae_dir` to the folder `out` in format `fmt`, atomically (a killed job leaves no
    folder that a reader would take for finished)."""
    if fmt not in WRITERS:
        raise ValueError(f"unknown example format {fmt!r}; known: {sorted(WRITERS)}")
    sae = load_sae(sae_dir)
    with atomic_path(out) as tmp:
        WRITERS[fmt](sae, tmp, model, hook)
