"""RAVEL-style causal editing of an SAE's latents with MDBM masks (arXiv 2602.14111, sec. 5).

Entry point: `ravel_metrics` with its `RavelConfig` (the `eval_ravel` job). Modules: editing.py (the
intervention, examples and scores), mdbm.py (mask training), data.py (the toy world's or RAVEL's prompts).
"""

from saesanity.evals.ravel.editing import RavelConfig, ravel_metrics

__all__ = ["RavelConfig", "ravel_metrics"]
