"""Secrets at rest: sealed with the configured key, opened only with it; the key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from coffer.config import SECRET_KEY_FILE, SecretKeyMissing, Settings
from coffer.payments.secrets import InvalidSecretKey, SecretBox, UnreadableSecret, new_key


def test_round_trip_and_sealed_text_hides_the_secret() -> None:
    box = SecretBox(new_key())
    sealed = box.seal("sk_test_abcdef123456")
    assert "abcdef123456" not in sealed
    assert sealed.isascii()
    assert box.open(sealed) == "sk_test_abcdef123456"
    assert box.seal("same") != box.seal("same")  # a fresh IV every time
    assert box.open(box.seal("비밀 키 ✓")) == "비밀 키 ✓"


def test_another_key_or_an_altered_token_is_refused() -> None:
    sealed = SecretBox(new_key()).seal("sk_live_1234")
    with pytest.raises(UnreadableSecret):
        SecretBox(new_key()).open(sealed)
    box = SecretBox(new_key())
    token = box.seal("sk_live_1234")
    altered = token[:-6] + ("A" if token[-6] != "A" else "B") + token[-5:]
    with pytest.raises(UnreadableSecret):
        box.open(altered)
    with pytest.raises(UnreadableSecret):
        box.open("not a token at all ✗")


@pytest.mark.parametrize(
    "key",
    ["", " , ", "short", "x" * 44, new_key()[:-2]],
    ids=["empty", "only-commas", "short", "not-base64", "truncated"],
)
def test_a_malformed_key_is_refused_when_the_box_is_made(key: str) -> None:
    with pytest.raises(InvalidSecretKey):
        SecretBox(key)


def test_rotation_new_key_first_old_key_still_opens() -> None:
    old, new = new_key(), new_key()
    sealed_with_old = SecretBox(old).seal("whsec_rotate_me")
    both = SecretBox(f"{new}, {old}")
    assert both.open(sealed_with_old) == "whsec_rotate_me"
    resealed = both.rotate(sealed_with_old)
    assert SecretBox(new).open(resealed) == "whsec_rotate_me"
    with pytest.raises(UnreadableSecret):
        SecretBox(old).open(resealed)
    with pytest.raises(UnreadableSecret):
        SecretBox(new).rotate(SecretBox(new_key()).seal("x"))


@pytest.mark.parametrize(
    ("plain", "hint"),
    [
        ("sk_test_0123456789abcd", "…abcd"),
        ("0123456789abcdef", "…cdef"),
        ("01234567", "…67"),
        ("abc", "…"),
        ("", "…"),
    ],
)
def test_hint_shows_at_most_four_characters_and_a_quarter_of_a_short_secret(
    plain: str, hint: str
) -> None:
    assert SecretBox.hint(plain) == hint


def test_settings_read_the_key_from_the_environment(tmp_path: Path) -> None:
    key = new_key()
    settings = Settings.from_env({"COFFER_DATA_DIR": str(tmp_path), "COFFER_SECRET_KEY": key})
    assert settings.resolve_secret_key() == key
    assert not (tmp_path / SECRET_KEY_FILE).exists()


def test_embedded_default_creates_a_private_key_file_once(tmp_path: Path) -> None:
    settings = Settings.from_env({"COFFER_DATA_DIR": str(tmp_path / "data")})
    assert settings.secret_key is None
    key = settings.resolve_secret_key()
    path = tmp_path / "data" / SECRET_KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert settings.resolve_secret_key() == key
    assert SecretBox(key).open(SecretBox(key).seal("x")) == "x"
    assert [p.name for p in path.parent.iterdir()] == [SECRET_KEY_FILE]


def test_without_a_key_a_server_database_refuses_clearly(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "COFFER_DATA_DIR": str(tmp_path),
            "COFFER_DATABASE_URL": "postgresql+psycopg://coffer@db/coffer",
        }
    )
    with pytest.raises(SecretKeyMissing, match="COFFER_SECRET_KEY"):
        settings.resolve_secret_key()
    assert list(tmp_path.iterdir()) == []
