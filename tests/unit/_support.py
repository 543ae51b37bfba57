"""Shared test doubles: the fake clock (from ``faketime``) and a deterministic jitter source."""

from __future__ import annotations

import json
from typing import Any

from faketime import FakeTime
from gptimg.errors import GptimgError

BASE = "https://gateway.test"
#: Long enough that the masking rules would preview it, distinctive enough to grep for.
KEY = "uno_live_SECRETkey_0123456789abcdef"


class TopOfRange:
    """A ``random.Random`` stand-in whose jitter always picks the ceiling, so delays are exact."""

    def uniform(self, low: float, high: float) -> float:
        return high


def assert_key_not_leaked(exc: GptimgError, key: str = KEY) -> None:
    assert key not in str(exc)
    assert key not in repr(exc)
    assert key not in json.dumps(exc.to_dict(), default=str)
    assert key not in repr(exc.details)


def mcp_text(payload: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": json.dumps(payload)}]}


__all__ = ["BASE", "KEY", "FakeTime", "TopOfRange", "assert_key_not_leaked"]
