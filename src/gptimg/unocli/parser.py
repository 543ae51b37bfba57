"""The agent CLI's command line: uno-cli's commands and flags, parsed with argparse.

argparse (not Typer) because this path must start fast, and because usage
errors must come out as JSON, never as a usage dump on stderr.
"""

from __future__ import annotations

import argparse
from typing import NoReturn

from gptimg import __version__

_HOISTED_FLAGS = {"--compact", "--view-only"}
_HOISTED_VALUES = {"--base-url"}


class UsageError(Exception):
    """A command line argparse cannot accept."""


class _JsonErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


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


def build_parser() -> argparse.ArgumentParser:
    p = _JsonErrorParser(prog="uno.py", description="gptimg's uno-cli compatible agent CLI (JSON on stdout).")
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__} (gptimg)")
    p.add_argument("--compact", action="store_true", help="One-line JSON output")
    p.add_argument(
        "--view-only",
        action="store_true",
        help="call: print view and meta only (data stays when the gateway sends no view), as uno-cli 1.0.7",
    )
    p.add_argument("--base-url", default=None, help="Gateway URL (default: UNO_API_URL or https://agentools.uno)")
    sub = p.add_subparsers(dest="command", parser_class=_JsonErrorParser)

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
    tool_sub = tool.add_subparsers(dest="action", parser_class=_JsonErrorParser)
    tool_get = tool_sub.add_parser("get")
    tool_get.add_argument("slug")

    call = sub.add_parser("call", help="Call a tool (submit costs credits)")
    call.add_argument("tool")
    call.add_argument("--args", default=None, help="JSON object of arguments")
    call.add_argument("--timeout", type=int, default=60, help="Read timeout in seconds (default 60)")
    call.add_argument("--dry-run", action="store_true", help="Show the call; no network, no credits")

    sub.add_parser("health", help="Is the gateway up?")
    return p
