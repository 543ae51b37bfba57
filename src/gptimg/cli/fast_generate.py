"""A fully spelled-out ``gptimg generate`` line, read without loading Typer.

Loading Typer and building the app costs more than the rest of a ``generate``'s
start-up, and ``gptimg generate "…" --yes --json`` is the line agents run for
every image. So :func:`read_line` reads that kind of line itself, from the same
table the Typer command is built from (``generate_options``), and returns the
exact keyword arguments Typer would pass to ``run_generate`` — or ``None``
whenever it is not certain, and then Typer reads the line as always.

It is certain only of this shape: the global ``--json`` / ``--base-url URL``
(already moved to the front by ``main``), ``generate``, then at most one
positional PROMPT and the table's flags spelled out in full (``--out DIR``,
``--out=DIR``, ``-o DIR``), each value present and not looking like a flag, each
flag at most once (``--ref`` may repeat), numbers that Python reads as click
would. Anything else — help, ``--``, a short-flag cluster (``-yo``), ``-n2``,
an unknown or misspelt flag, a missing or unreadable value, a second PROMPT,
shell completion — is declined. tests/cli/test_fast_generate.py holds the
parser to click's reading of thousands of generated lines, hostile ones included.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

from gptimg.cli.generate_options import PARAMETERS, Parameter, by_flag

COMMAND = "generate"
BASE_URL = "--base-url"


class QuickLine:
    """What a ``generate`` line says: the root options, and ``run_generate``'s keyword arguments."""

    __slots__ = ("json_output", "base_url", "arguments")

    def __init__(self, json_output: bool, base_url: str | None, arguments: dict[str, Any]) -> None:
        self.json_output = json_output
        self.base_url = base_url
        self.arguments = arguments


def read_line(args: list[str], parameters: tuple[Parameter, ...] = PARAMETERS) -> QuickLine | None:
    """``args`` (after ``main`` moved ``--json`` / ``--base-url`` to the front) as a ``generate`` call, or None."""
    root = _read_root(args)
    if root is None:
        return None
    json_output, base_url, start = root
    arguments = read_arguments(args[start:], parameters)
    if arguments is None:
        return None
    return QuickLine(json_output, base_url, arguments)


def _read_root(args: list[str]) -> tuple[bool, str | None, int] | None:
    """The root's ``--json`` / ``--base-url`` before ``generate``, and where ``generate``'s own part starts."""
    json_output = False
    base_url: str | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == COMMAND:
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


def read_arguments(tokens: list[str], parameters: tuple[Parameter, ...] = PARAMETERS) -> dict[str, Any] | None:
    """``generate``'s tokens as ``run_generate``'s keyword arguments, or None if not certain."""
    flags = by_flag(parameters)
    given: dict[str, Any] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        i += 1
        if token == "-" or not token.startswith("-"):
            if "prompt" in given:
                return None  # click: "Got unexpected extra argument"
            given["prompt"] = token
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
    return {parameter.name: given.get(parameter.name, parameter.default) for parameter in parameters}


def _value(parameter: Parameter, text: str) -> Any:
    """``text`` converted as click converts it; None when click would refuse it or it looks like a flag."""
    if text.startswith("-") and text != "-":
        return None
    try:
        if parameter.kind == "int":
            return int(text)
        if parameter.kind == "float":
            return float(text)
    except ValueError:
        return None
    return text


def run(line: QuickLine) -> None:
    """Do what the root callback and Typer's command runner do around ``generate``, then run it.

    Typer turns an ``EOFError`` into an abort (a newline on stderr, then "Interrupted.")
    and a broken stdout pipe into exit 1 with quiet streams; so does this.
    """
    from gptimg.cli.generate_flow import run_generate
    from gptimg.cli.session import session

    session.output.json_mode = line.json_output
    session.base_url_flag = line.base_url
    try:
        run_generate(**line.arguments)
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
