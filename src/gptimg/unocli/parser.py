"""The agent CLI's command line: uno-cli's commands and flags, parsed with argparse.

argparse (not Typer) because this path must start fast. Usage errors (unknown
command or flag, bad choice, missing argument, a ``--timeout`` that is not a
positive number of seconds) are argparse's own, as in uno-cli: usage on stderr,
exit 2, nothing on stdout, and nothing sent.
"""

from __future__ import annotations

import argparse
import os
import sys

from gptimg import __version__

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from typing import Callable

_HOISTED_FLAGS = {"--compact", "--view-only"}
_HOISTED_VALUES = {"--base-url"}


def hoist_global_flags(argv: list[str]) -> list[str]:
    """``--compact``, ``--view-only`` and ``--base-url`` may appear anywhere; argparse wants them first.

    Also rewrites ``--poll -abc`` to ``--poll=-abc`` (device codes may start with a dash).
    """
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _HOISTED_FLAGS:
            front.append(arg)
        elif arg in _HOISTED_VALUES and i + 1 < len(argv):
            front.extend([arg, argv[i + 1]])
            i += 1
        elif arg.split("=", 1)[0] in _HOISTED_VALUES and "=" in arg:
            front.append(arg)
        elif arg == "--poll" and i + 1 < len(argv) and argv[i + 1].startswith("-"):
            rest.append(f"--poll={argv[i + 1]}")
            i += 1
        else:
            rest.append(arg)
        i += 1
    return front + rest


def timeout_seconds(text: str) -> int:
    """``--timeout``: a whole number of seconds above zero, or argparse's usage error (exit 2).

    Checked while parsing, so ``-5``, ``0``, ``nan`` or ``soon`` never reach the network:
    uno-cli 1.0.7 sent the submit first and failed afterwards, after the charge.
    """
    try:
        value = int(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: give whole seconds, e.g. 70") from None
    if not 1 <= value <= 3600:
        raise argparse.ArgumentTypeError(f"invalid timeout {text!r}: give 1 to 3600 seconds")
    return value


def terminal_columns() -> int:
    """``shutil.get_terminal_size().columns`` without importing ``shutil`` (and bz2, lzma, fnmatch)."""
    try:
        columns = int(os.environ.get("COLUMNS", ""))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Parser(argparse.ArgumentParser):
    """argparse, minus a ``shutil`` import and a terminal query on every ``add_argument``.

    argparse builds a help formatter for each argument it adds (to check its metavar), and
    each formatter asks the terminal for its width: ~30 times a start for a parser whose help
    is rarely printed. The width is asked for only when something is formatted, and argparse's
    own default (the terminal's columns minus 2) is kept, so help and usage read the same.
    """

    def _get_formatter(self) -> argparse.HelpFormatter:
        return self.formatter_class(prog=self.prog, width=terminal_columns() - 2)  # type: ignore[call-arg]


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, built with each of argparse's stock words translated once.

    argparse asks ``gettext`` for the same three or four words ("options", "show this help
    message and exit", ...) for each of its 13 parsers here, and ``gettext`` searches the disk
    for a catalogue every time (four ``stat`` calls each, more with ``LANG=en_US``): ~40% of
    building the parser. The answers cannot change within one build, so they are asked once;
    argparse's own ``_`` is back in place before anything is parsed or printed.
    """
    translate = getattr(argparse, "_", None)
    if callable(translate):
        argparse._ = _asked_once(translate)  # type: ignore[attr-defined]
    try:
        return _build_parser()
    finally:
        if callable(translate):
            argparse._ = translate  # type: ignore[attr-defined]


def _asked_once(translate: Callable[[str], str]) -> Callable[[str], str]:
    answers: dict[str, str] = {}

    def translated(message: str) -> str:
        if message not in answers:
            answers[message] = translate(message)
        return answers[message]

    return translated


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="uno.py", description="gptimg's uno-cli compatible agent CLI (JSON on stdout).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__} (gptimg)")
    p.add_argument("--compact", action="store_true", help="One-line JSON output")
    p.add_argument(
        "--view-only",
        action="store_true",
        help="call: print view and meta only (data stays when the gateway sends no view), as uno-cli 1.0.7",
    )
    p.add_argument("--base-url", default=None, help="Gateway URL (default: UNO_API_URL or https://agentools.uno)")
    # ``prog`` given, argparse need not build a help formatter (and import shutil) to work it out.
    sub = p.add_subparsers(dest="command", prog="uno.py")

    login = sub.add_parser("login", help="Log in: device code (default), --start/--poll for agents, or --key")
    mode = login.add_mutually_exclusive_group()
    mode.add_argument("--start", action="store_true", help="Step 1: get a device code, print it, return")
    mode.add_argument("--poll", metavar="DEVICE_CODE", help="Step 2: wait for the user to approve")
    mode.add_argument("--key", metavar="API_KEY", help="Store an API key after checking it; - reads it from stdin")

    logout = sub.add_parser("logout", help="Forget the active account (or --all)")
    logout.add_argument("--all", action="store_true")

    use = sub.add_parser("use", help="List accounts, or switch to one")
    use.add_argument("account", nargs="?")

    sub.add_parser("whoami", help="The active account and its credits")

    search = sub.add_parser("search", help="Search the tool catalogue")
    search.add_argument("query")
    search.add_argument("--limit", type=int, default=10)
    search.add_argument("--mode", choices=["keyword", "semantic", "hybrid"])
    search.add_argument("--category")
    search.add_argument("--server")

    tool = sub.add_parser("tool", help="Catalogue entry of one tool")
    tool_sub = tool.add_subparsers(dest="action", prog="uno.py tool")
    tool_get = tool_sub.add_parser("get")
    tool_get.add_argument("slug")

    call = sub.add_parser("call", help="Call a tool (submit costs credits)")
    call.add_argument("tool")
    call.add_argument("--args", default=None, help="JSON object of arguments")
    call.add_argument("--timeout", type=timeout_seconds, default=60, help="Read timeout in seconds, 1-3600 (default 60)")
    call.add_argument("--dry-run", action="store_true", help="Show the call; no network, no credits")

    sub.add_parser("health", help="Is the gateway up?")

    logs = sub.add_parser("logs", help="Recent calls and their charges (last 7 days): was a submit charged?")
    logs.add_argument("--last", type=int, default=20, help="Number of records (default: 20)")
    logs.add_argument("--include-search", action="store_true", help="Include catalogue search rows")
    return p
