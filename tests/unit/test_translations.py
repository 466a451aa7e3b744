"""Every string the webs show has a Korean translation, and the catalogues are up to date."""

from __future__ import annotations

import subprocess
from pathlib import Path

from babel.messages.pofile import read_po

from coffer.web.i18n import TRANSLATIONS_DIR, translations

ROOT = Path(__file__).resolve().parents[2]


def _extracted_ids(tmp_path: Path) -> set[str]:
    """What scripts/i18n.sh extracts (pybabel writes only to a file, so use a temporary one)."""
    pot = tmp_path / "messages.pot"
    subprocess.run(
        ["pybabel", "--quiet", "extract", "-F", "babel.cfg", "--no-location", "-o", str(pot),
         "src/coffer/web"],
        cwd=ROOT,
        check=True,
    )  # fmt: skip
    with pot.open("rb") as extracted:
        catalog = read_po(extracted)
    return {str(m.id if isinstance(m.id, str) else m.id[0]) for m in catalog if m.id}


def test_every_web_string_is_translated_to_korean(tmp_path: Path) -> None:
    with (TRANSLATIONS_DIR / "ko" / "LC_MESSAGES" / "messages.po").open("rb") as po:
        korean = read_po(po, locale="ko")
    translated = {
        str(m.id if isinstance(m.id, str) else m.id[0])
        for m in korean
        if m.id
        and m.string
        and not m.fuzzy
        and all(m.string if isinstance(m.string, tuple) else [m.string])
    }
    extracted = _extracted_ids(tmp_path)
    assert len(extracted) > 50, "extraction found (almost) nothing: is babel.cfg right?"
    missing = sorted(extracted - translated)
    assert missing == [], f"run scripts/i18n.sh and translate: {missing}"


def test_catalogues_compile() -> None:
    assert translations("ko") is not None
    assert translations("en").gettext("Members") == "Members"
