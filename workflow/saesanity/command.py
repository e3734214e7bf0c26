"""What the stages' cli modules share: the type of the subparsers each adds its commands to, and the JSON
settings a rule passes on the command line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import TypeAlias

from saesanity.config import ConfigError

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
Command: TypeAlias = Callable[[Subparsers], None]
"""Adds one subcommand: its arguments, its help, and (set_defaults func) the function that runs it."""


def json_arg(text: str) -> dict:
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        raise ConfigError(f"--spec is not valid JSON: {err}") from None
