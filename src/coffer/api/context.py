"""What a request handler is given: the runtime, and the caller an API key identified."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from coffer.app import Runtime
from coffer.tenancy.model import Service


@dataclass(frozen=True, slots=True)
class Caller:
    """The service an API key belongs to, and the key's public prefix."""

    service: Service
    key_prefix: str

    @property
    def actor(self) -> str:
        """Who journals record as having caused an API write."""
        return f"api:{self.key_prefix}"


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
