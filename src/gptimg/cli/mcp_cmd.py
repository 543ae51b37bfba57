"""``gptimg mcp``: serve the MCP tools on stdio (the server itself is in ``gptimg.mcp``, an optional extra).

Nothing here imports the MCP SDK until the command runs, so every other command,
``--help`` and ``--version`` start without it. stdout belongs to the protocol
from the moment the server starts: everything else goes to stderr.
"""

from __future__ import annotations

import math
import signal
import sys
from pathlib import Path
from typing import Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session


def _default_out() -> Path:
    """Where images go when a call names no folder: an MCP host's working directory is often ``/``."""
    from platformdirs import user_pictures_dir

    return Path(user_pictures_dir()) / "gptimg"


@app.command("mcp")
def mcp(
    sandbox: bool = typer.Option(False, "--sandbox", help="Serve against an embedded local sandbox (test credits)."),
    allow_spend: Optional[float] = typer.Option(
        None,
        "--allow-spend",
        metavar="MAX_CREDITS",
        help="Let clients that cannot ask the user spend up to this many credits in this session (also a cap "
        "when they can ask). Without it such clients spend nothing.",
    ),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", metavar="DIR", help="Default folder for saved images (default: ~/Pictures/gptimg)."
    ),
) -> None:
    """Run the MCP server on stdio, for Claude Desktop, Claude Code, Cursor and other MCP clients."""
    from gptimg.mcp import sdk_problem

    problem = sdk_problem()
    if problem is not None:
        sys.stderr.write(problem + "\n")
        raise typer.Exit(errors.EXIT_BAD_INPUT)
    if allow_spend is not None and not (allow_spend >= 0 and math.isfinite(allow_spend)):
        raise errors.BadInput(f"--allow-spend must be a number of credits >= 0, not {allow_spend!r}.", code="usage")
    from gptimg.cli.jobflow import resolve_out_dir
    from gptimg.cli.session import sandbox_delay
    from gptimg.mcp.consent import SpendAllowance
    from gptimg.mcp.server import serve
    from gptimg.mcp.tools import ServerState

    default_out = resolve_out_dir(str(Path(out).expanduser()) if out else str(_default_out()))
    if sandbox:
        session.use_sandbox(delay=sandbox_delay())
        session.output.info(f"[dim]gptimg mcp: sandbox gateway at {session.base_url()} (test credits).[/]")
    import os

    limit = "no spending without the user's confirmation" if allow_spend is None else f"allowance {allow_spend:g} credits"
    session.output.info(f"[dim]gptimg mcp: serving on stdio (pid {os.getpid()}); {limit}; images into {default_out}[/]")
    state = ServerState(
        session=session, allowance=SpendAllowance(allow_spend), default_out=default_out, sandbox=sandbox
    )
    serve(state, on_signal=_leave_after_signal)


def _leave_after_signal(signum: int) -> None:
    """Exit now that every submit in flight is journalled (the server calls this on SIGTERM/SIGINT).

    The SDK reads stdin in a worker thread that only a closed stdin ends, and a
    host that sent the signal may keep stdin open while it waits for us to go: the
    ordinary exit would wait for that thread forever. So: close what is ours, run
    the atexit handlers, and leave.
    """
    import atexit
    import os

    code = errors.EXIT_TERMINATED if signum == signal.SIGTERM else errors.EXIT_INTERRUPTED
    session.output.info("Terminated." if code == errors.EXIT_TERMINATED else "Interrupted.")
    session.close()
    atexit._run_exitfuncs()
    sys.stderr.flush()
    os._exit(code)
