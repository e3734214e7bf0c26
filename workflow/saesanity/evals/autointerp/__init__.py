"""Interpretability by detection scoring (arXiv 2410.13928) and the toy world's ground-truth concept check.

Entry points: `autointerp_metrics` with `autointerp_config` (the `eval_autointerp` job), and `OpenAIError`,
which the CLI turns into a one-line message. Modules: detection.py (the protocol and the job), config.py
(evals.autointerp), contexts.py (token windows and their text), explainers.py (ground-truth and LLM
explainer/judge), openai_client.py (the chat endpoint), concepts.py (the concept check).
"""

from saesanity.evals.autointerp.config import autointerp_config
from saesanity.evals.autointerp.detection import autointerp_metrics
from saesanity.evals.autointerp.openai_client import OpenAIError

__all__ = ["OpenAIError", "autointerp_config", "autointerp_metrics"]
