"""On a stderr that is not a terminal, lines are plain text, exactly what rich would show, minus styling."""

from __future__ import annotations

import pytest
from rich.markup import escape, render

from gptimg.cli.output import Output, PlainConsole, _escape, plain_text

SAMPLES = [
    "plain",
    "a [bold]b[/] c",
    "user [bold] text",
    "x\\",
    "path\\[x]",
    "/tmp/[weird]/c",
    "ends with \\\\",
    "[link=http://x]y[/link]",
    "[[bold]]",
    "a \\\\[b] c",
    "日本 [x]",
    "\\",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_escape_is_riches_escape(text: str) -> None:
    assert _escape(text) == escape(text)


@pytest.mark.parametrize("text", SAMPLES)
def test_plain_text_is_what_rich_renders(text: str) -> None:
    for markup in (f"[dim]{escape(text)}[/]", f"[bold red]error:[/] {escape(text)}"):
        assert plain_text(markup) == render(markup, emoji=False).plain


def test_a_piped_stderr_gets_plain_lines_without_loading_rich(capsys: pytest.CaptureFixture[str]) -> None:
    output = Output()
    assert isinstance(output.err, PlainConsole)  # capsys' stderr is not a terminal
    output.error("could not [open] it", "try [bold]this[/bold]")
    output.info("[dim]Sandbox at http://127.0.0.1:1[/]")
    assert capsys.readouterr().err == (
        "error: could not [open] it\nhint: try [bold]this[/bold]\nSandbox at http://127.0.0.1:1\n"
    )
