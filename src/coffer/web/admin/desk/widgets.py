"""Room on the dashboard for later capabilities (charges, purchases, M/A cases, settlements).

A capability adds a widget by calling :func:`register` at import time with a
:class:`Widget`: the permission it needs, a template (rendered inside the dashboard's
``#dashboard-widgets`` section with ``context`` bound to what ``load`` returned), and ``load``,
which runs in the dashboard's read transaction. Widgets show in registration order.
``admin/desk/_widget_figure.html`` shows one figure (``label``, ``value``, optional ``href``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from coffer.tenancy.model import Service

#: (connection, service, now) -> the widget's template context.
Loader = Callable[[Connection, Service, datetime], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Widget:
    name: str
    permission: str
    template: str
    load: Loader


@dataclass(frozen=True, slots=True)
class Shown:
    """A widget ready to render: its template and what ``load`` returned."""

    name: str
    template: str
    context: dict[str, Any]


_WIDGETS: list[Widget] = []


def register(widget: Widget) -> None:
    if any(known.name == widget.name for known in _WIDGETS):
        raise ValueError(f"a dashboard widget named {widget.name!r} is already registered")
    _WIDGETS.append(widget)


def unregister(name: str) -> None:
    _WIDGETS[:] = [widget for widget in _WIDGETS if widget.name != name]


def load_widgets(
    conn: Connection, service: Service, now: datetime, can: Callable[[str], bool]
) -> list[Shown]:
    """The registered widgets the admin may see, loaded for ``service``."""
    return [
        Shown(widget.name, widget.template, widget.load(conn, service, now))
        for widget in _WIDGETS
        if can(widget.permission)
    ]
