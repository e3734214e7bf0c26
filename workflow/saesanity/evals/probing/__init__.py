"""Sparse probing as SAEBench runs it (the paper's Table 2 "sparse probing top-1 / top-5").

Entry points: `prepare_probing` with its `PrepJob` (the `probing_prep` job, once per model and hook) and
`probing_metrics` (the `eval_probing` job, once per SAE). Modules: jobs.py (the two jobs), probes.py (tasks,
pooling, top-k and dense probes), data.py (the labelled data sets).
"""

from saesanity.evals.probing.jobs import PrepJob, prepare_probing, probing_metrics

__all__ = ["PrepJob", "prepare_probing", "probing_metrics"]
