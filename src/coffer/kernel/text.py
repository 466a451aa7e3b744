"""What text the database can store as given: the rule every entry point shares.

Control characters (PostgreSQL refuses NUL) and lone surrogates (not encodable as UTF-8) are
input errors wherever text comes in, never a 500 from the database.
"""

from __future__ import annotations


def is_storable_text(value: str, *, multiline: bool = False) -> bool:
    """No control characters (tab and newlines allowed in multi-line text), no surrogates."""
    allowed = "\t\n\r" if multiline else ""
    return not any(
        (ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in value
    )
