"""The agent CLI behind ``bin/uno.py``: uno-cli 1.0.7's JSON contract over gptimg's core.

Kept import-light: only the standard library and gptimg's own dependency-free
modules load until a command needs the network.
"""

from __future__ import annotations

import sys

_DEPENDENCIES = frozenset({"httpx", "httpcore", "h11", "certifi", "idna", "anyio", "sniffio", "platformdirs"})


def install_hint() -> str:
    import os

    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    return f"python -m pip install -e {repo}"


def missing_dependency(name: str | None) -> int:
    """One JSON line and exit 2 when run from a checkout whose dependencies are not installed."""
    import json

    print(
        json.dumps(
            {
                "success": False,
                "error": "missing_dependencies",
                "message": f"gptimg's dependency {name!r} is not installed.",
                "hint": f"Install gptimg first: {install_hint()}",
            }
        )
    )
    return 2


def _usage_envelope(message: str) -> dict[str, object]:
    """A bad command line in uno-cli's failure shape, with ``errors.UsageError``'s code."""
    from gptimg.errors import UsageError
    from gptimg.unocli.compat import format_local_error

    return format_local_error(UsageError(message, hint="See: python bin/uno.py --help"))


def main(argv: list[str] | None = None) -> int:
    from gptimg.unocli.output import Output, fail
    from gptimg.unocli.parser import UsageError, build_parser, hoist_global_flags

    raw = list(sys.argv[1:] if argv is None else argv)
    Output.compact = "--compact" in raw
    try:
        try:
            args = build_parser().parse_args(hoist_global_flags(raw))
        except UsageError as exc:
            fail(_usage_envelope(str(exc)))
        if not args.command:
            fail(_usage_envelope("A command is required."))
        from gptimg.unocli.commands import Context, run

        return run(Context(args.base_url), args)
    except SystemExit as done:  # --help and --version
        return int(done.code or 0)
    except ModuleNotFoundError as exc:
        if exc.name in _DEPENDENCIES:
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
