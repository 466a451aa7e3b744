"""Shared CLI plumbing: the runtime from the environment, JSON output, error exits."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from coffer.app import Runtime
from coffer.config import Settings
from coffer.kernel.errors import CofferError

T = TypeVar("T")


def runtime() -> Runtime:
    return Runtime.from_settings(Settings.from_env())


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a domain error becomes a one-line message and exit code 2."""
    try:
        return action()
    except CofferError as error:
        typer.echo(f"error: {error.code}: {error.message}", err=True)
        sys.exit(2)
