"""Settings of the interpretability evaluation (detection scoring, arXiv 2410.13928 as used by arXiv
2602.14111) and of the toy world's ground-truth concept check: config.yaml's `evals.autointerp` block."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from saesanity.config import _check, from_dict

BACKENDS = ("ground_truth", "openai")


@dataclass(frozen=True)
class OpenAIConfig:
    """An OpenAI-compatible chat endpoint (`POST {base_url}/chat/completions`) as explainer and judge."""

    base_url: str | None = None
    """e.g. http://localhost:8000/v1 (vLLM) or https://api.openai.com/v1; None: $OPENAI_BASE_URL, else OpenAI."""
    model: str | None = None
    """Model name sent with every request; None: $OPENAI_MODEL (one of the two is required)."""
    api_key_env: str = "OPENAI_API_KEY"
    """Name of the environment variable holding the key (keys never go into config files)."""
    timeout_s: float = 120.0
    max_retries: int = 6
    """Retries after a 429, a 5xx, a timeout or a refused connection, with exponential backoff."""
    backoff_s: float = 2.0
    """First backoff; doubled after each retry (a Retry-After header wins when it says longer)."""
    max_tokens: int = 512
    judge_batch: int = 10
    """Contexts per judge request (the judge answers one 0/1 per context)."""
    cache_dir: str = "results/evals/autointerp/cache"
    """Answers on disk, one file per request (sha256 of model, messages and settings): a rerun sends nothing."""

    def __post_init__(self) -> None:
        for key in ("timeout_s", "max_tokens", "judge_batch"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        _check(self.max_retries >= 0 and self.backoff_s >= 0, "max_retries/backoff_s", "must be >= 0")


@dataclass(frozen=True)
class AutoInterpConfig:
    backend: str = "ground_truth"
    """'ground_truth' (the toy world's concept tags explain and judge) or 'openai' (a chat endpoint)."""
    n_latents: int = 200
    """Live latents scored, drawn at random (seeded); all live ones when fewer are live."""
    n_explain: int = 15
    """Top-activating training contexts (at most one per document) shown to the explainer."""
    n_activating: int = 50
    """Held-out contexts where the latent fires, one from each of n_activating activation-quantile strata."""
    n_random: int = 50
    """Random held-out contexts in which the latent does not fire."""
    window_before: int = 12
    """A context is the tokens of one document from `window_before` before the token to `window_after` after."""
    window_after: int = 3
    train_tokens: int = 131072
    """First tokens of the training store scanned for the explainer's top contexts (bounds the job's time)."""
    n_background: int = 256
    """Random training contexts the ground-truth explainer contrasts the top contexts with."""
    concept_threshold: float = 0.8
    """Concept check: a concept is detected when some latent reaches this F1 on held-out tokens."""
    seed: int = 0
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)

    def __post_init__(self) -> None:
        _check(self.backend in BACKENDS, "backend", f"must be one of {list(BACKENDS)}, got {self.backend!r}")
        for key in ("n_latents", "n_explain", "n_activating", "train_tokens", "n_background"):
            _check(getattr(self, key) > 0, key, f"must be positive, got {getattr(self, key)}")
        for key in ("n_random", "window_before", "window_after"):
            _check(getattr(self, key) >= 0, key, f"must be >= 0, got {getattr(self, key)}")
        _check(0 < self.concept_threshold <= 1, "concept_threshold", "must be in (0, 1]")


def autointerp_config(data: dict) -> AutoInterpConfig:
    data = dict(data)
    openai = from_dict(OpenAIConfig, data.pop("openai", {}) or {}, "evals.autointerp.openai")
    cfg = from_dict(AutoInterpConfig, data, "evals.autointerp")
    return dataclasses.replace(cfg, openai=openai)
