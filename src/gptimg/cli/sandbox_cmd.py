"""``gptimg sandbox``: serve the local gateway in the foreground."""

from __future__ import annotations

import sys

import typer

from gptimg.cli.app import app


@app.command(
    "sandbox",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
    add_help_option=False,
)
def sandbox(ctx: typer.Context) -> None:
    """Run a local, offline Uno gateway on 127.0.0.1 (see --help for its flags)."""
    from gptimg.sandbox import main as sandbox_main

    code = sandbox_main(list(ctx.args))
    sys.stdout.flush()
    raise typer.Exit(code)
