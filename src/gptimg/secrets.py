"""Masking: the single chokepoint every printed payload passes through.

Any field named like a secret is replaced by a short preview at any depth (the
same rule as uno-cli, so agents see the same shapes), and the key in use is
scrubbed from every string, in case a server echoes it back inside a message.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SECRET_FIELD_NAMES = frozenset(
    {"api_key", "apikey", "access_token", "refresh_token", "token", "secret", "client_secret", "password"}
)
REDACTED = "[redacted]"


def mask_token(value: Any) -> Any:
    """``uno_abcd...wxyz`` for 12+ characters, ``***`` below; non-strings unchanged."""
    if not isinstance(value, str):
        return value
    if len(value) < 12:
        return "***"
    return f"{value[:8]}...{value[-4:]}"


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret and len(secret) >= 8 and secret in text:
            text = text.replace(secret, REDACTED)
    return text


def strip_secrets(obj: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of ``obj`` safe to print: secret-named fields masked, known secret values removed."""
    known = tuple(s for s in secrets if s)

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: (
                    mask_token(v)
                    if isinstance(k, str) and k.lower() in SECRET_FIELD_NAMES and isinstance(v, str)
                    else clean(v)
                )
                for k, v in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if isinstance(value, str) and known:
            return redact_text(value, known)
        return value

    return clean(obj)
