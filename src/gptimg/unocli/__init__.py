"""The agent CLI behind ``bin/uno.py``: uno-cli 1.0.7's JSON contract over gptimg's core.

Kept import-light: only the standard library and gptimg's own dependency-free
modules load until a command needs the network. Runs from a checkout, an
installed gptimg, or an exported skill folder (``gptimg skill export``) on a bare
``python3 -I -S``.
"""

from __future__ import annotations

import sys

_DEPENDENCIES = frozenset({"httpx", "httpcore", "h11", "certifi", "idna", "anyio", "sniffio", "socksio"})


def _in_skill_folder() -> bool:
    import os

    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.path.isfile(os.path.join(os.path.dirname(package), "uno.py"))


def install_hint() -> str:
    import os

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return f"python -m pip install -e {repo}"


def missing_dependency(name: str | None) -> int:
    """One JSON line and exit 2 when something this CLI needs cannot be imported; never a traceback."""
    import json

    if _in_skill_folder() and name not in _DEPENDENCIES:
        message = f"The skill folder is incomplete: module {name!r} is missing from bin/."
        hint = "Export the skill again (gptimg skill export DIR) or reinstall it; see MANIFEST.json for its files."
    elif _in_skill_folder():
        message = f"{name!r} is needed for this request (a non-http proxy such as socks5://) and is not installed."
        hint = "Use an http:// proxy in HTTPS_PROXY, or install gptimg (python3 -m pip install gptimg)."
    else:
        message = f"gptimg's dependency {name!r} is not installed."
        hint = f"Install gptimg first: {install_hint()}"
    print(json.dumps({"success": False, "error": "missing_dependencies", "message": message, "hint": hint}))
    return 2


def main(argv: list[str] | None = None) -> int:
    from gptimg.redaction import disable_core_dumps
    from gptimg.unocli.output import Output
    from gptimg.unocli.parser import build_parser, hoist_global_flags

    disable_core_dumps()

    raw = list(sys.argv[1:] if argv is None else argv)
    Output.compact = "--compact" in raw
    try:
        hoisted = hoist_global_flags(raw)
        parser = build_parser()
        refused = _uno_cli_only(hoisted)
        if refused:
            return refused
        args = parser.parse_args(hoisted)  # a usage error: usage on stderr, exit 2 (SystemExit)
        if not args.command:
            parser.print_help(sys.stderr)  # as uno-cli: help on stderr, exit 1
            return 1
        from gptimg.unocli.commands import Context, run

        return run(Context(args.base_url), args)
    except SystemExit as done:  # --help, --version and usage errors
        return done.code if isinstance(done.code, int) else 2
    except ModuleNotFoundError as exc:
        if exc.name in _DEPENDENCIES or (exc.name or "").startswith("gptimg"):
            return missing_dependency(exc.name)
        raise
    except KeyboardInterrupt:
        print("\nAborted.", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - the contract is JSON, never a traceback
        from gptimg.unocli.output import Exit

        if isinstance(exc, Exit):
            return exc.code
        Output.emit({"success": False, "error": f"Unexpected error: {type(exc).__name__}", "code": "internal"})
        return 1


def _uno_cli_only(argv: list[str]) -> int:
    """uno-cli commands this CLI leaves to uno-cli: one JSON error, exit 1 (see ``unocli.more``)."""
    from gptimg.unocli.more import UNO_CLI_ONLY, refuse
    from gptimg.unocli.output import Exit

    words = [a for i, a in enumerate(argv) if not a.startswith("-") and (i == 0 or argv[i - 1] != "--base-url")]
    command = words[0] if words else None
    if command not in UNO_CLI_ONLY:
        return 0
    try:
        refuse(command)
    except Exit as done:
        return done.code
    return 1
