"""Explainer and judge back-ends of detection scoring (Paulo et al., arXiv 2410.13928): an explainer
turns a latent's top-activating contexts into an explanation, a judge says for each context whether the
latent fires in it, given only the explanation. One interface, two back-ends:

- GroundTruthInterpreter: the toy world's known concepts. The explanation is the concept that best
  separates the top contexts from random ones; the judge answers whether a context contains it.
- LLMInterpreter: any OpenAI-compatible chat endpoint (saesanity.evals.autointerp.openai_client), with prompts in the
  spirit of Paulo et al.'s detection scoring."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from typing import Protocol

from saesanity.config import ConfigError
from saesanity.evals.autointerp.contexts import Context

NO_CONCEPT = "none"


class Interpreter(Protocol):
    def explain(self, contexts: Sequence[Context]) -> str:
        """An explanation of the latent from its top-activating contexts (tokens and activations)."""

    def judge(self, explanation: str, contexts: Sequence[Context]) -> list[bool]:
        """For each context (tokens only), whether the latent fires somewhere in it."""


class GroundTruthError(ConfigError):
    """The ground-truth back-end was asked to work on tokens without concept tags."""


def _present(contexts: Sequence[Context]) -> list[frozenset[str]]:
    """Concepts anywhere in each context."""
    out = []
    for c in contexts:
        if c.concepts is None:
            raise GroundTruthError("the ground-truth back-end needs the toy world's concept tags; these contexts "
                                   "have none (a Hugging Face model?): set evals.autointerp.backend: openai")
        out.append(frozenset().union(*c.concepts))
    return out


class GroundTruthInterpreter:
    """Explains a latent by the known concept whose presence in a context best separates its top contexts
    from `background` (random training contexts): the largest TPR - FPR (Youden's J), which is the
    detection accuracy that concept would get on those contexts with balanced classes, minus 1/2, times 2.
    Ties go to the alphabetically first concept. When no concept has J > 0 the explanation is 'none' and
    the judge answers no everywhere (accuracy 1/2 on balanced contexts)."""

    def __init__(self, background: Sequence[Context]):
        self._background = _present(background)

    def explain(self, contexts: Sequence[Context]) -> str:
        top = _present(contexts)
        best, best_j = NO_CONCEPT, 0.0
        for concept in sorted(frozenset().union(*top)):
            tpr = sum(concept in p for p in top) / len(top)
            fpr = sum(concept in p for p in self._background) / max(len(self._background), 1)
            if tpr - fpr > best_j:
                best, best_j = concept, tpr - fpr
        return best

    def judge(self, explanation: str, contexts: Sequence[Context]) -> list[bool]:
        return [explanation in p for p in _present(contexts)]


EXPLAIN_SYSTEM = (
    "You are a meticulous AI researcher investigating patterns in language. You will see text excerpts in "
    "which one latent of a neural network is active. Tokens where the latent is active are marked "
    "<<like this>>, with the activation in parentheses after them. Find what the marked tokens and their "
    "contexts have in common and describe it in one short phrase (a few words). Answer with your "
    "reasoning, if any, and end with a last line of the form\nExplanation: <short phrase>")

JUDGE_SYSTEM = (
    "You are an intelligent and meticulous linguistics researcher. You will be given an explanation of "
    "when a latent of a neural network is active, and numbered text excerpts. Some excerpts contain tokens "
    "where the latent is active, the others do not. For each excerpt, decide whether the latent is active "
    "somewhere in it, following the explanation. Answer only with a list of 0s and 1s, one per excerpt in "
    "order (1: active, 0: not active), for example [1, 0, 0, 1, 0].")


def explain_prompt(contexts: Sequence[Context]) -> str:
    lines = []
    for i, c in enumerate(contexts, 1):
        acts = c.acts or (0.0,) * len(c.tokens)
        peak = max(acts) or 1.0
        # Paulo et al. mark the active tokens; we mark those above a tenth of the context's peak.
        words = [f"<<{t}>>({a / peak * 10:.0f})" if a > 0.1 * peak else t for t, a in zip(c.tokens, acts)]
        lines.append(f"Example {i}: {' '.join(words)}")
    return "\n".join(lines)


def judge_prompt(explanation: str, contexts: Sequence[Context]) -> str:
    lines = [f"Explanation: {explanation}", ""]
    lines += [f"Excerpt {i}: {' '.join(c.tokens)}" for i, c in enumerate(contexts, 1)]
    lines += ["", f"Answer with a list of {len(contexts)} numbers (0 or 1)."]
    return "\n".join(lines)


def parse_explanation(text: str) -> str:
    """The phrase after the last 'Explanation:'; else the last non-empty line."""
    found = re.findall(r"explanation\s*:\s*(.+)", text, flags=re.IGNORECASE)
    if found:
        return found[-1].strip().strip('"').strip()
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""


def parse_judgements(text: str, n: int) -> list[bool] | None:
    """n 0/1 answers: the last bracketed list with n entries, else the last n standalone 0/1 digits of
    the answer; None when neither exists (the caller counts the batch as answered 'no')."""
    for group in reversed(re.findall(r"\[([^\[\]]*)\]", text)):
        values = re.findall(r"\b[01]\b", group)
        if len(values) == n:
            return [v == "1" for v in values]
    values = re.findall(r"(?<![\w.])[01](?![\w.])", text)
    if len(values) >= n:
        return [v == "1" for v in values[-n:]]
    return None


class LLMInterpreter:
    """Explainer and judge through one chat endpoint (temperature 0; answers cached by the client)."""

    def __init__(self, client, judge_batch: int = 10):
        self.client, self.judge_batch = client, judge_batch
        self.unparsed = 0
        """Judge answers that could not be read (each counted as all 'no')."""

    def explain(self, contexts: Sequence[Context]) -> str:
        answer = self.client.complete([{"role": "system", "content": EXPLAIN_SYSTEM},
                                       {"role": "user", "content": explain_prompt(contexts)}])
        return parse_explanation(answer)

    def judge(self, explanation: str, contexts: Sequence[Context]) -> list[bool]:
        out: list[bool] = []
        for i in range(0, len(contexts), self.judge_batch):
            batch = contexts[i:i + self.judge_batch]
            answer = self.client.complete([{"role": "system", "content": JUDGE_SYSTEM},
                                           {"role": "user", "content": judge_prompt(explanation, batch)}])
            parsed = parse_judgements(answer, len(batch))
            if parsed is None:
                self.unparsed += 1
                print(f"autointerp: judge answer not a list of {len(batch)} 0/1s, counted as 'no': "
                      f"{answer[:200]!r}", file=sys.stderr)
                parsed = [False] * len(batch)
            out += parsed
        return out
