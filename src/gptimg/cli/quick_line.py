"""A fully spelled-out ``gptimg generate`` or ``gptimg batch`` line, read without loading Typer.

Loading Typer and building the app costs more than the rest of a ``generate``'s
start-up (``gptimg generate "…" --yes --json`` is the line agents run for every
image), and a tenth of a re-run of a finished 5,000-line batch. So
:func:`read_line` reads such a line itself, from the same table the Typer command
is built from (``generate_options``, ``batch_options``), and returns the exact
keyword arguments Typer would pass to the command's body — or ``None`` whenever
it is not certain, and then Typer reads the line as always.

It is certain only of this shape: the global ``--json`` / ``--base-url URL``
(already moved to the front by ``main``), the command, then at most one
positional argument (required where the table says so) and the table's flags
spelled out in full (``--out DIR``, ``--out=DIR``, ``-o DIR``), each value present
and not looking like a flag, each flag at most once (``--ref`` may repeat),
numbers that Python reads as click would, within the table's bounds. Anything
else — help, ``--``, a short-flag cluster (``-yo``), ``-n2``, an unknown or
misspelt flag, a missing or unreadable value, a number out of bounds, a second
positional, shell completion — is declined. tests/cli/test_quick_line.py holds
the reader to click's reading of thousands of generated lines of each command,
hostile ones included.
"""

from __future__ import annotations

import errno
import importlib
import sys
from typing import Any

from gptimg.cli.option_table import Parameter, by_flag

BASE_URL = "--base-url"
#: The commands read here: name -> (the module holding its table, the module and function of its body).
#: The body takes the table's keyword arguments and returns None or an exit code.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "generate": ("gptimg.cli.generate_options", "gptimg.cli.generate_flow", "run_generate"),
    "batch": ("gptimg.cli.batch_options", "gptimg.cli.batch_flow", "run_batch"),
}


class QuickLine:
    """What a line says: its command, the root options, and the keyword arguments of the command's body."""

    __slots__ = ("command", "json_output", "base_url", "arguments")

    def __init__(self, command: str, json_output: bool, base_url: str | None, arguments: dict[str, Any]) -> None:
        self.command = command
        self.json_output = json_output
        self.base_url = base_url
        self.arguments = arguments


def parameters_of(command: str) -> tuple[Parameter, ...]:
    parameters: tuple[Parameter, ...] = importlib.import_module(COMMANDS[command][0]).PARAMETERS
    return parameters


def read_line(args: list[str], command: str, parameters: tuple[Parameter, ...] | None = None) -> QuickLine | None:
    """``args`` (after ``main`` moved ``--json`` / ``--base-url`` to the front) as a ``command`` call, or None.

    ``parameters``: the command's table (its own unless a test gives another)."""
    root = _read_root(args, command)
    if root is None:
        return None
    json_output, base_url, start = root
    arguments = read_arguments(args[start:], parameters if parameters is not None else parameters_of(command))
    if arguments is None:
        return None
    return QuickLine(command, json_output, base_url, arguments)


def _read_root(args: list[str], command: str) -> tuple[bool, str | None, int] | None:
    """The root's ``--json`` / ``--base-url`` before ``command``, and where the command's own part starts."""
    json_output = False
    base_url: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == command:
            return json_output, base_url, i + 1
        if arg == "--json":
            json_output = True
        elif base_url is not None:
            return None  # a second --base-url, or anything else: Typer's reading
        elif arg.startswith(BASE_URL + "="):
            base_url = arg[len(BASE_URL) + 1 :]
        elif arg == BASE_URL and i + 1 < len(args):
            i += 1
            base_url = args[i]
        else:
            return None
        if base_url is not None and base_url.startswith("-"):
            return None
        i += 1
    return None


def read_arguments(tokens: list[str], parameters: tuple[Parameter, ...]) -> dict[str, Any] | None:
    """A command's tokens as its body's keyword arguments, or None if not certain."""
    flags = by_flag(parameters)
    positional = next((parameter for parameter in parameters if not parameter.flags), None)
    given: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "-" or not token.startswith("-"):
            if positional is None or positional.name in given:
                return None  # click: "Got unexpected extra argument"
            given[positional.name] = token
            continue
        flag, equals, inline = token.partition("=") if token.startswith("--") else (token, "", "")
        parameter = flags.get(flag)
        if parameter is None or (parameter.name in given and parameter.kind != "texts"):
            return None
        if not parameter.takes_value:
            if equals:
                return None  # click: "Option does not take a value"
            given[parameter.name] = True
            continue
        if not equals:
            if i == len(tokens):
                return None  # click: "Option requires an argument"
            inline = tokens[i]
            i += 1
        value = _value(parameter, inline)
        if value is None:
            return None
        if parameter.kind == "texts":
            given.setdefault(parameter.name, []).append(value)
        else:
            given[parameter.name] = value
    if any(parameter.required and parameter.name not in given for parameter in parameters):
        return None  # click: "Missing argument"
    return {parameter.name: given.get(parameter.name, parameter.default) for parameter in parameters}


def _value(parameter: Parameter, text: str) -> Any:
    """``text`` converted as click converts it; None when click would refuse it or it looks like a flag."""
    if text.startswith("-") and text != "-":
        return None
    try:
        if parameter.kind == "int":
            number: float = int(text)
        elif parameter.kind == "float":
            number = float(text)
        else:
            return text
    except ValueError:
        return None
    # click's range check: a bound is inclusive, and a comparison with NaN is false (so NaN passes, as there)
    if (parameter.minimum is not None and number < parameter.minimum) or (
            parameter.maximum is not None and number > parameter.maximum):
        return None
    return number


def run(line: QuickLine) -> int:
    """Do what the root callback and Typer's command runner do around the command, then run it; its exit code.

    Typer turns an ``EOFError`` into an abort (a newline on stderr, then "Interrupted.")
    and a broken stdout pipe into exit 1 with quiet streams; so does this.
    """
    from gptimg.cli.session import session

    _, module, function = COMMANDS[line.command]
    body = getattr(importlib.import_module(module), function)
    session.output.json_mode = line.json_output
    session.base_url_flag = line.base_url
    try:
        return body(**line.arguments) or 0
    except EOFError:
        sys.stderr.write("\n")
        sys.stderr.flush()
        raise KeyboardInterrupt() from None
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
        _quiet_streams()
        sys.exit(1)


def _quiet_streams() -> None:
    """click's wrapper that ignores a broken pipe when the streams are flushed on the way out."""
    try:
        from typer._click.utils import PacifyFlushWrapper
    except ImportError:  # a Typer that depends on click instead of vendoring it
        from click.utils import PacifyFlushWrapper
    sys.stdout = PacifyFlushWrapper(sys.stdout)  # type: ignore[assignment]
    sys.stderr = PacifyFlushWrapper(sys.stderr)  # type: ignore[assignment]
