"""The Typer application and the options every command shares.

``--json`` and ``--base-url`` are global: they may be written anywhere on the
line (``gptimg generate "fox" --json``); ``main`` moves them to the front.
"""

from __future__ import annotations

from typing import Optional

import typer

from gptimg import __version__
from gptimg.cli.session import session

app = typer.Typer(
    name="gptimg",
    help="Generate images with OpenAI's gpt-image-2 through the Uno tool gateway.",
    no_args_is_help=False,  # ``main`` shows the help itself: click's way ends in a stray "error:" line
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish, PowerShell
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

__all__ = ["app", "root", "session"]  # ``session`` (from ``cli.session``): what every command imports from here


def _version(value: bool) -> None:
    if value:
        typer.echo(f"gptimg {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    json_output: bool = typer.Option(False, "--json", help="Print one JSON envelope on stdout (for scripts and agents)."),
    base_url: Optional[str] = typer.Option(
        None, "--base-url", metavar="URL", help="Gateway URL (default: $UNO_API_URL or https://agentools.uno)."
    ),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    session.output.json_mode = json_output
    session.base_url_flag = base_url
