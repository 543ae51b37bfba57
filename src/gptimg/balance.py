"""The one balance rule: a spend the known balance cannot cover stops before anything is sent.

``generate`` (through ``cli/confirm``), ``batch`` (through ``batch/plan``) and any
other face ask this one function, so "enough credits" means the same everywhere.
An unknown balance (the account endpoint gave none) lets the gateway decide.
"""

from __future__ import annotations

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
