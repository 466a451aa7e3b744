"""Template filters: money in minor units shown in the currency's major unit, times."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from coffer.kernel.money import currency, format_minor


def money(amount: int, code: str) -> str:
    """``12345, "KRW"`` -> ``₩12,345``; ``1234, "USD"`` -> ``12.34 USD``."""
    cur = currency(code)
    text = format_minor(amount, cur)
    whole, dot, frac = text.lstrip("-").partition(".")
    grouped = f"{int(whole):,}" + (dot + frac if dot else "")
    sign = "-" if amount < 0 else ""
    return f"{sign}₩{grouped}" if cur.code == "KRW" else f"{sign}{grouped} {cur.code}"


def local_time(moment: datetime | None, timezone: str = "Asia/Seoul") -> str:
    if moment is None:
        return ""
    return moment.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M")


FILTERS: dict[str, Callable[..., Any]] = {"money": money, "local_time": local_time}
