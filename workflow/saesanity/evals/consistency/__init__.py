"""Consistency of dictionaries (PW-MCC, arXiv 2505.20254; shared latents, arXiv 2501.16615).

Entry points: `consistency_metrics` (the `consistency` job: PW-MCC of the seeds of one SAE configuration) and
`validation_metrics` (the `validation` job: PW-MCC against ground-truth MCC over training). Modules:
matching.py (what a matching is), mcc.py (exact MCC, PW-MCC, shared fraction; picks the method by size),
sparse_matching.py (MCC at scale with a certificate), seeds.py, validation.py (the two jobs).
"""

from saesanity.evals.consistency.seeds import consistency_metrics
from saesanity.evals.consistency.validation import validation_metrics

__all__ = ["consistency_metrics", "validation_metrics"]
