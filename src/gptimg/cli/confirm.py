"""The cost confirmation: the only door to a paid submit in the human CLI.

A yes comes from ``--yes`` or from a person typing y at a terminal. With no
terminal on stdin and no ``--yes`` nothing is spent. A balance known to be
short stops here too, before the gateway is asked.
"""

from __future__ import annotations

import sys

from gptimg import errors
from gptimg.balance import check_balance as _check_balance
from gptimg.cli.output import Output


def check_balance(cost: float, balance: float | None, recharge_url: str | None = None) -> None:
    """The one balance rule (``gptimg.balance``), worded for a single submit."""
    _check_balance(cost, balance, recharge_url=recharge_url)


def confirm_spend(
    output: Output,
    *,
    summary: list[tuple[str, str]],
    cost: float,
    balance: float | None,
    yes: bool,
    balance_label: str = "balance",
) -> None:
    """Return only when spending ``cost`` credits is allowed; raise otherwise.

    ``balance_label`` names the spendable total's line ("can spend" when the summary
    already lists an SDK account's free credits and wallet balance separately).
    """
    check_balance(cost, balance)
    if yes:
        return
    if not sys.stdin.isatty():
        raise errors.ConfirmationRequired(
            f"Refusing to spend {cost:g} credits without confirmation: stdin is not a terminal."
        )
    from rich.markup import escape
    from rich.table import Table

    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for label, value in summary:
        table.add_row(label, escape(value))
    table.add_row("cost", f"[bold]{cost:g} credits[/]")
    if balance is not None:
        table.add_row(balance_label, f"{balance:g} now, {balance - cost:g} after")
    output.err.print(table)
    if not ask_yes_no(output, f"Spend {cost:g} credits?"):
        raise errors.Declined("Nothing was spent.")


YES_ANSWERS = ("y", "yes")


def ask_yes_no(output: Output, question: str) -> bool:
    """``question [y/N]``: only y or yes (any case) is a yes; Enter, anything else or end of input is a no."""
    output.err.print(f"{question} [bold]\\[y/N][/] ", end="")
    try:
        answer = sys.stdin.readline()
    except (OSError, ValueError):
        answer = ""
    if not answer.endswith("\n"):
        output.err.print("")
    return answer.strip().lower() in YES_ANSWERS
