"""RAVEL-style causal editing of an SAE's latents with MDBM masks (arXiv 2602.14111, sec. 5).

Entry points: `prepare_ravel` (the `ravel_prep` job: the prompts through the model, once per model and hook)
and `ravel_metrics` (the `eval_ravel` job), both with a `RavelConfig`. Modules: editing.py (the
intervention, examples and scores), mdbm.py (mask training), data.py (the toy world's or RAVEL's prompts).
"""

from saesanity.evals.ravel.editing import RavelConfig, prepare_ravel, ravel_metrics

__all__ = ["RavelConfig", "prepare_ravel", "ravel_metrics"]
