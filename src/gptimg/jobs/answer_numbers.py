"""The numbers a submit's answer carries, made sane: a hostile or broken gateway's ``1e999`` never crashes or shows.

``estimated_seconds`` sets the progress bar and ``credits_used`` is shown and summed
per batch; both come from outside, so anything that is not a sensible number is
replaced (the estimate) or dropped (the credits) here, in one place.
"""

from __future__ import annotations

import math
from typing import Any

from gptimg.image_tool import DEFAULT_ESTIMATED_SECONDS

#: An ``estimated_seconds`` beyond this is nonsense; the wait is shown against this instead.
MAX_ESTIMATED_SECONDS = 3600
#: Credits reported for one submit beyond this are nonsense and are not shown or summed.
MAX_CREDITS = 1e9


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def sane_estimate(value: Any) -> int:
    """``estimated_seconds`` from an answer: ``1e999``, ``-3``, ``"soon"`` or none give the default."""
    number = _finite(value)
    if number is None or number <= 0:
        return DEFAULT_ESTIMATED_SECONDS
    return max(1, int(min(number, MAX_ESTIMATED_SECONDS)))


def sane_credits(value: Any) -> float | None:
    """``meta.credits_used`` from an answer, or None when it is not a sensible number of credits."""
    number = _finite(value)
    if number is None or not 0 <= number <= MAX_CREDITS:
        return None
    return int(number) if number.is_integer() else number
