"""A Typer command built from a command's table of arguments (``option_table``).

The quick reader (``quick_line``) reads a spelled-out line from the same table,
so ``--help``, completion and error messages stay Typer's while both ways of
reading a line agree on every flag.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Optional

import typer

from gptimg.cli.app import app
from gptimg.cli.option_table import Parameter

#: Each kind of value as the type Typer reads from the annotation (``Optional`` when it may be left out).
TYPES: dict[str, Any] = {"text": str, "int": int, "float": float, "flag": bool, "texts": list[str]}


def annotation(parameter: Parameter) -> Any:
    kind = TYPES[parameter.kind]
    return Optional[kind] if parameter.default is None else kind


def _typer_default(parameter: Parameter) -> Any:
    """``typer.Argument(...)`` for the positional, ``typer.Option(...)`` for each flag, as one would write them."""
    bounds = {key: value for key, value in (("min", parameter.minimum), ("max", parameter.maximum))
              if value is not None}
    if not parameter.flags:
        return typer.Argument(parameter.default, metavar=parameter.metavar, help=parameter.help, **bounds)
    return typer.Option(parameter.default, *parameter.flags, metavar=parameter.metavar, help=parameter.help,
                        **bounds)


def register(name: str, parameters: tuple[Parameter, ...], body: Callable[..., Any], doc: str, *,
             epilog: str | None = None) -> None:
    """Register ``gptimg NAME``: Typer reads the line by ``parameters`` and calls ``body(**arguments)``.

    ``body`` returns None or an exit code; a code other than 0 ends the command with it.
    """

    def command(**arguments: Any) -> None:
        code = body(**arguments)
        if code:
            raise typer.Exit(code)

    command.__doc__ = doc
    command.__name__ = command.__qualname__ = name
    command.__module__ = body.__module__  # the module that registers it (``command_modules`` is checked against it)
    command.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(parameter.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                              default=_typer_default(parameter), annotation=annotation(parameter))
            for parameter in parameters
        ],
        return_annotation=None,
    )
    command.__annotations__ = {parameter.name: annotation(parameter) for parameter in parameters}
    app.command(name, epilog=epilog)(command)
