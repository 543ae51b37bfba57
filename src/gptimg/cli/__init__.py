"""The human CLI, ``gptimg``: Typer + rich over the same core as the agent CLI."""

from __future__ import annotations

import sys

from gptimg import errors


def _hoist_global_options(argv: list[str]) -> list[str]:
    """``--json`` and ``--base-url URL`` may come anywhere; the root callback wants them first."""
    if "sandbox" in argv[:1]:
        return argv
    front: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            rest.extend(argv[i:])
            break
        if arg == "--json":
            front.append(arg)
        elif arg == "--base-url" and i + 1 < len(argv):
            front.extend(argv[i : i + 2])
            i += 1
        elif arg.startswith("--base-url="):
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def _usage_error() -> type[Exception]:
    """click's UsageError, wherever this Typer keeps click (vendored since 0.20, a dependency before)."""
    import typer

    return next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def main(argv: list[str] | None = None) -> int:
    import typer

    from gptimg.cli import commands  # noqa: F401  (registers every command)
    from gptimg.cli.app import app, session
    from gptimg.jobs.signals import install_sigterm_handler
    from gptimg.secrets import disable_core_dumps

    disable_core_dumps()

    args = _hoist_global_options(list(sys.argv[1:] if argv is None else argv))
    session.output.json_mode = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    session.output.emitted = False
    install_sigterm_handler()
    try:
        result = app(args=args, prog_name="gptimg", standalone_mode=False)
        if result == errors.EXIT_INTERRUPTED:
            # Typer catches Ctrl-C itself and returns a bare 130: still say so, and leave the envelope.
            return _interrupted()
        return result if isinstance(result, int) else 0
    except errors.GptimgError as exc:
        return session.output.failure(exc)
    except typer.Exit as done:
        return done.exit_code
    except _usage_error() as exc:
        hint = f"See: gptimg {exc.ctx.command_path.split(' ', 1)[1] + ' ' if exc.ctx and ' ' in exc.ctx.command_path else ''}--help"
        return session.output.failure(errors.UsageError(exc.format_message(), hint=hint))
    except (KeyboardInterrupt, typer.Abort):
        return _interrupted()
    except errors.Terminated:
        session.output.info("Terminated.")
        _interrupted_envelope("terminated", errors.EXIT_TERMINATED)
        return errors.EXIT_TERMINATED
    finally:
        session.flush_warnings()
        session.close()


def _interrupted() -> int:
    from gptimg.cli.app import session

    session.output.info("Interrupted.")
    _interrupted_envelope("interrupted", errors.EXIT_INTERRUPTED)
    return errors.EXIT_INTERRUPTED


def _interrupted_envelope(code: str, exit_code: int) -> None:
    """With ``--json`` a stopped command still leaves one envelope (unless a command already wrote one)."""
    from gptimg.cli.app import session

    if session.output.json_mode and not session.output.emitted:
        session.output.emit_json(
            {"success": False, "error": code, "message": f"{code.capitalize()}.", "exit_code": exit_code}
        )


def run() -> None:
    _exit(main())


def _exit(code: int) -> None:
    """Leave at once, skipping the interpreter's teardown of every module and object.

    That teardown does nothing for us (the session has closed the journal, the
    connections and any sandbox; every file was written in a ``with``) and costs
    50-150 ms, more after a batch. atexit handlers still run. When another
    non-daemon thread is still alive, or stdout cannot be flushed (a closed pipe),
    the ordinary ``sys.exit`` runs instead, so those cases end exactly as before;
    so it does under a profiler or tracer (cProfile, coverage), which write their
    results on the way out.
    """
    import atexit
    import os
    import threading

    current = threading.current_thread()
    busy = any(t is not current and not t.daemon and t.is_alive() for t in threading.enumerate())
    if busy or sys.getprofile() is not None or sys.gettrace() is not None:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except Exception:
        sys.exit(code)
    atexit._run_exitfuncs()
    os._exit(code)
