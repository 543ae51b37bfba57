"""The human CLI, ``gptimg``: Typer + rich over the same core as the agent CLI."""

from __future__ import annotations

import os
import sys

from gptimg import errors

# ``typing`` is not loaded for annotations alone (``gptimg --version`` need not pay for it).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typer import Typer

    from gptimg.cli.quick_line import QuickLine


def _hoist_global_options(argv: list[str]) -> list[str]:
    """``--json`` and ``--base-url URL`` may come anywhere; the root callback wants them first."""
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


def _recover_utf8(arg: str) -> str:
    """An argument Python decoded with a non-UTF-8 locale (``LC_ALL=C``): its bytes read as UTF-8.

    Such a locale turns every non-ASCII byte into a lone surrogate, which no file, terminal
    or SQLite can store; the bytes were almost surely UTF-8 text, and otherwise each
    undecodable byte becomes U+FFFD rather than a crash later.
    """
    if not any("\udc80" <= ch <= "\udcff" for ch in arg):
        return arg
    import os

    try:
        raw = os.fsencode(arg)
    except UnicodeError:
        return arg.encode("utf-8", "replace").decode("utf-8")
    return raw.decode("utf-8", "replace")


def _streams_that_never_break() -> None:
    """On a stdout/stderr that cannot show every character (C locale, a Windows code page),
    replace what cannot be shown instead of raising in the middle of a command."""
    for stream in (sys.stdout, sys.stderr):
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "").replace("_", "")
        if encoding and not encoding.startswith("utf") and hasattr(stream, "reconfigure"):
            try:
                stream.reconfigure(errors="replace")
            except (ValueError, OSError):  # a detached or closed stream: nothing to protect
                pass


def _typer_errors(*names: str) -> tuple[type[BaseException], ...]:
    """Typer's exceptions by name; none when this line never loaded Typer (then nothing raises them)."""
    typer = sys.modules.get("typer")
    return tuple(getattr(typer, name) for name in names) if typer is not None else ()


def _usage_error() -> tuple[type[BaseException], ...]:
    """click's UsageError, wherever this Typer keeps click (vendored since 0.20, a dependency before)."""
    typer = sys.modules.get("typer")
    if typer is None:
        return ()
    return tuple(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")[:1]


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw == ["--version"]:
        return _print_version()
    _dataclasses_without_inspect()
    from gptimg.cli.session import session
    from gptimg.jobs.signals import install_sigterm_handler
    from gptimg.redaction import disable_core_dumps

    disable_core_dumps()

    _streams_that_never_break()
    args = _hoist_global_options([_recover_utf8(a) for a in raw])
    quick = _quick_line(args)
    app = _typer_app(args) if quick is None else None
    session.output.json_mode = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    session.output.emitted = False
    install_sigterm_handler()
    if app is not None and not [a for a in args if a != "--json"] and "_GPTIMG_COMPLETE" not in os.environ:
        args = [*args, "--help"]  # bare ``gptimg``: the help, and a clean exit
    return _run(app, args, quick)


def _dataclasses_without_inspect() -> None:
    """Import ``dataclasses`` with its ``inspect`` loaded on first use.

    ``dataclasses`` imports ``inspect`` (with ``ast``, ``dis`` and ``tokenize``: 26 M
    instructions, callgrind, a sixth of ``gptimg generate``'s own start) but on Python
    3.9-3.11 reads it only to write a docstring for a dataclass that has none; ours
    all have one. Any use loads the real module (``gptimg.lazy_modules``); from 3.12,
    where every dataclass reads it, it is simply loaded at the first one.
    """
    if "dataclasses" not in sys.modules:
        from gptimg.lazy_modules import loaded_on_first_use

        with loaded_on_first_use("inspect"):
            import dataclasses  # noqa: F401


def _quick_line(args: list[str]) -> QuickLine | None:
    """A spelled-out ``generate`` or ``batch`` line read without Typer (``quick_line``), or None for Typer to read."""
    from gptimg.cli import quick_line
    from gptimg.cli.command_modules import named_command

    command = named_command(args)
    if command not in quick_line.COMMANDS or "_GPTIMG_COMPLETE" in os.environ:
        return None
    return quick_line.read_line(args, command)


def _typer_app(args: list[str]) -> Typer:
    """The Typer app with the command ``args`` names registered (every command for help and completion)."""
    from gptimg.cli import light_help

    light_help.install()  # before Typer is imported: its rich help loads lightly, when rendered
    from gptimg.cli.app import app
    from gptimg.cli.command_modules import register_commands

    register_commands([] if "_GPTIMG_COMPLETE" in os.environ else args)  # completion lists every command
    return app


def _run(app: Typer | None, args: list[str], quick: QuickLine | None) -> int:
    """Run the line (the quick ``generate`` or Typer's app) and turn every way out into an exit code."""
    from gptimg.cli.session import session

    try:
        if quick is not None:
            from gptimg.cli import quick_line

            result = quick_line.run(quick)
        else:
            assert app is not None
            result = app(args=args, prog_name="gptimg", standalone_mode=False)
        if result == errors.EXIT_INTERRUPTED:
            # Typer catches Ctrl-C itself and returns a bare 130 (and a command may end with 130):
            # still say so, and leave the envelope, whichever way the line was read.
            return _interrupted()
        return result if isinstance(result, int) else 0
    except errors.Declined as exc:
        if session.output.json_mode:
            return session.output.failure(exc)
        session.output.info(exc.message)  # a choice, not an error: no "error:" line
        return exc.exit_code
    except errors.GptimgError as exc:
        return session.output.failure(exc)
    except _typer_errors("Exit") as done:
        return done.exit_code  # type: ignore[attr-defined]
    except _usage_error() as exc:
        ctx = exc.ctx  # type: ignore[attr-defined]
        hint = f"See: gptimg {ctx.command_path.split(' ', 1)[1] + ' ' if ctx and ' ' in ctx.command_path else ''}--help"
        return session.output.failure(errors.UsageError(exc.format_message(), hint=hint))  # type: ignore[attr-defined]
    except (KeyboardInterrupt, *_typer_errors("Abort")):
        return _interrupted()
    except errors.Terminated:
        session.output.info("Terminated.")
        _interrupted_envelope("terminated", errors.EXIT_TERMINATED)
        return errors.EXIT_TERMINATED
    finally:
        session.flush_warnings()
        session.close()


def _print_version() -> int:
    """``gptimg --version`` without loading Typer and every command (~2x faster; the same line)."""
    from gptimg import __version__

    sys.stdout.write(f"gptimg {__version__}\n")
    return 0


def _interrupted() -> int:
    from gptimg.cli.session import session

    session.output.info("Interrupted.")
    _interrupted_envelope("interrupted", errors.EXIT_INTERRUPTED)
    return errors.EXIT_INTERRUPTED


def _interrupted_envelope(code: str, exit_code: int) -> None:
    """With ``--json`` a stopped command still leaves one envelope (unless a command already wrote one)."""
    from gptimg.cli.session import session

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
