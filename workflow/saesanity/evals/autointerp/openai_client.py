"""A minimal client of OpenAI-compatible chat endpoints (`POST {base_url}/chat/completions`: OpenAI,
vLLM, llama.cpp, Ollama, ...), on the standard library only: retries with exponential backoff on 429, 5xx,
timeouts and refused connections, and every answer cached on disk under the sha256 of the request (model,
messages, temperature, max_tokens), so that a rerun sends nothing and writes the same bytes."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from saesanity.atomic import atomic_path
from saesanity.evals.autointerp.config import OpenAIConfig

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIError(RuntimeError):
    """The endpoint cannot be used (no key, no model, an error answer, or retries exhausted)."""


def _retryable(code: int) -> bool:
    return code == 429 or code >= 500


class ChatClient:
    def __init__(self, cfg: OpenAIConfig, environ: dict[str, str] | None = None):
        env = os.environ if environ is None else environ
        self.base_url = (cfg.base_url or env.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        self.model = cfg.model or env.get("OPENAI_MODEL")
        if not self.model:
            raise OpenAIError("evals.autointerp.openai.model is not set and neither is $OPENAI_MODEL: "
                              "name the model the endpoint serves")
        self.key = env.get(cfg.api_key_env)
        if not self.key:
            raise OpenAIError(f"no API key for {self.base_url}: set the environment variable {cfg.api_key_env} "
                              "(its name is evals.autointerp.openai.api_key_env; for a local server without "
                              "authentication any non-empty value will do)")
        self.cfg = cfg
        self.cache = Path(cfg.cache_dir)
        self.requests_sent = 0

    def _payload(self, messages: list[dict]) -> dict:
        return {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.cfg.max_tokens}

    def complete(self, messages: list[dict]) -> str:
        """The assistant's answer to `messages`, from the cache when this exact request was answered before."""
        payload = self._payload(messages)
        body = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        path = self.cache / f"{hashlib.sha256(body).hexdigest()}.json"
        if path.is_file():
            return json.loads(path.read_text())["content"]
        content = self._post(body)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps({"request": payload, "content": content}, sort_keys=True) + "\n")
        return content

    def _post(self, body: bytes) -> str:
        url = f"{self.base_url}/chat/completions"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"}
        for attempt in range(self.cfg.max_retries + 1):
            wait = self.cfg.backoff_s * 2 ** attempt
            try:
                self.requests_sent += 1
                request = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.cfg.timeout_s) as response:
                    return _content(json.loads(response.read()), url)
            except urllib.error.HTTPError as err:
                detail = err.read()[:500].decode(errors="replace")
                if not _retryable(err.code):
                    raise OpenAIError(f"{url}: HTTP {err.code}: {detail}") from None
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait = max(wait, float(retry_after))
                problem = f"HTTP {err.code}: {detail}"
            except (urllib.error.URLError, TimeoutError, ConnectionError) as err:
                problem = str(getattr(err, "reason", err))
            if attempt == self.cfg.max_retries:
                raise OpenAIError(f"{url}: gave up after {attempt + 1} attempts; last: {problem}")
            print(f"openai: {problem}; retry {attempt + 1}/{self.cfg.max_retries} in {wait:.1f} s", file=sys.stderr)
            time.sleep(wait)
        raise AssertionError("unreachable")


def _content(answer: dict, url: str) -> str:
    try:
        return answer["choices"][0]["message"]["content"] or ""
    except (KeyError, IndexError, TypeError):
        raise OpenAIError(f"{url}: not a chat completion: {json.dumps(answer)[:300]}") from None
