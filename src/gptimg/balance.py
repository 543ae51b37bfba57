"""The one balance rule, and what an account can spend from either shape ``/v1/auth/me`` comes in.

A spend the known balance cannot cover stops before anything is sent: ``generate``
(through ``cli/confirm``), ``batch`` (through ``batch/plan``) and any other face ask
``check_balance``, so "enough credits" means the same everywhere. An unknown balance
(the account endpoint gave none) lets the gateway decide.

The skill document's gateway answers ``credits``; the official SDK documents ``plan``,
``free_credits_remaining`` and ``balance`` (a wallet, also counted in credits: a call's
``meta.credits_from`` splits its cost into ``free`` and ``paid``). We show what is there
and never invent a number: the spendable amount is known only when ``credits`` is given,
or when both parts of the SDK shape are.
"""


from __future__ import annotations

from typing import Any

from gptimg import errors


def check_balance(
    cost: float,
    balance: float | None,
    *,
    what: str | None = None,
    hint: str | None = None,
    recharge_url: str | None = None,
) -> None:
    """Raise ``InsufficientCredits`` when ``balance`` is known and below ``cost``.

    ``what`` words the need ("This batch needs 900 credits (3 × 300)"); ``hint`` the way out.
    """
    if balance is None or balance >= cost:
        return
    if hint is None:
        hint = "Top up your credits"
        hint += f": {recharge_url}" if recharge_url else ", then run the command again."
    need = what or f"This needs {cost:g} credits"
    raise errors.InsufficientCredits(f"{need} and the balance is {balance:g}. Nothing was submitted.", hint=hint)


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


def confirmation_rows(me: dict[str, Any]) -> list[tuple[str, str]]:
    """The account's own balance fields for a cost confirmation, when it comes in the SDK's shape.

    The confirmation's last line is always the spendable total ("now" and "after"); an
    SDK account also shows its plan and the two parts that total is made of, so the
    person sees what will pay, in the gateway's terms. The skill's shape (``credits``)
    needs nothing more than that total.
    """
    if _number(me.get("credits")) is not None:
        return []
    rows = [("plan", str(me["plan"]))] if isinstance(me.get("plan"), str) and me["plan"] else []
    return rows + [row for row in balance_rows(me) if row[1] != "unknown"]
