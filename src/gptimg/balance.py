"""What an account can spend, from either shape ``/v1/auth/me`` comes in.

The skill document's gateway answers ``credits``; the official SDK documents ``plan``,
``free_credits_remaining`` and ``balance`` (a wallet, also counted in credits: a call's
``meta.credits_from`` splits its cost into ``free`` and ``paid``). We show what is there
and never invent a number: the spendable amount is known only when ``credits`` is given,
or when both parts of the SDK shape are; only then may a short balance stop a submit.
"""

from __future__ import annotations

from typing import Any


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def spendable_credits(me: dict[str, Any]) -> float | None:
    credits = _number(me.get("credits"))
    if credits is not None:
        return credits
    free, wallet = _number(me.get("free_credits_remaining")), _number(me.get("balance"))
    if free is not None and wallet is not None:
        return free + wallet
    return None


def balance_rows(me: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) for each balance field present, in the account's own terms."""
    rows: list[tuple[str, str]] = []
    for key, label in (("credits", "credits"), ("free_credits_remaining", "free credits"), ("balance", "balance")):
        value = _number(me.get(key))
        if value is not None:
            rows.append((label, f"{value:g}"))
    return rows or [("credits", "unknown")]
