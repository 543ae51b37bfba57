"""A command's arguments, written once: its Typer command and the quick reader both read the table.

Typer's import and set-up cost more than the rest of the start of the lines agents
run most (``gptimg generate "…" --yes --json``, ``gptimg batch FILE --yes --json``).
So a fully spelled-out line of such a command is read by :mod:`gptimg.cli.quick_line`
without Typer, and everything else (help, completion, errors, abbreviations) goes
through Typer as always. Both must mean the same thing by every option, so neither
declares its own: the Typer command is built from the command's table
(``table_command.register``), and the quick reader looks its flags up there.
Importing this module, or a table (``generate_options``, ``batch_options``), loads no Typer.
"""

from __future__ import annotations

from typing import Any

#: What a parameter's value is. ``text``/``int``/``float``: ``default`` unless given (``REQUIRED``: the line
#: must give it); ``flag``: ``False`` unless named; ``texts``: repeatable, ``None`` unless given at least once.
KINDS = ("text", "int", "float", "flag", "texts")
#: The default of a parameter the line must give (a required positional): Typer's ``...``.
REQUIRED: Any = ...


class Parameter:
    """One parameter of a command: the keyword it takes, its flags, value kind, bounds and help.

    ``minimum``/``maximum``: the bounds click checks (``typer.Option(min=…, max=…)``), both inclusive.
    """

    __slots__ = ("name", "flags", "kind", "default", "metavar", "help", "minimum", "maximum")

    def __init__(self, name: str, flags: tuple[str, ...], kind: str, help: str, *, default: Any = None,
                 metavar: str | None = None, minimum: float | None = None, maximum: float | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for {name}")
        if (minimum is not None or maximum is not None) and kind not in ("int", "float"):
            raise ValueError(f"only a number has bounds ({name})")
        self.name = name
        self.flags = flags  # empty for the positional argument
        self.kind = kind
        self.default = False if kind == "flag" else default
        self.metavar = metavar
        self.help = help
        self.minimum = minimum
        self.maximum = maximum

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def by_flag(parameters: tuple[Parameter, ...]) -> dict[str, Parameter]:
    """Every flag (``--out``, ``-o``, …) -> its parameter."""
    return {flag: parameter for parameter in parameters for flag in parameter.flags}
