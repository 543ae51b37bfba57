"""``generate``'s arguments, written once: the Typer command and the quick parser both read this table.

``gptimg generate "…" --yes --json`` is the line agents run most, and Typer's import
and set-up cost more than the rest of the command's start. So a fully spelled-out
``generate`` line is read by :mod:`gptimg.cli.fast_generate` without Typer, and
everything else (help, completion, errors, abbreviations) goes through Typer as
always. Both must mean the same thing by every option, so neither declares its
own: ``generate_cmd`` builds the Typer command from :data:`PARAMETERS`, and the
quick parser looks its flags up here. Importing this module loads no Typer.
"""

from __future__ import annotations

from typing import Any

from gptimg.cli.jobflow import DEFAULT_TIMEOUT
from gptimg.image_tool import SIZES

#: What a parameter's value is. ``text``/``int``: optional, ``None`` unless given; ``float``: has a
#: default; ``flag``: ``False`` unless named; ``texts``: repeatable, ``None`` unless given at least once.
KINDS = ("text", "int", "float", "flag", "texts")


class Parameter:
    """One parameter of ``generate``: the keyword the command takes, its flags, value kind and help."""

    __slots__ = ("name", "flags", "kind", "default", "metavar", "help")

    def __init__(self, name: str, flags: tuple[str, ...], kind: str, help: str, *,
                 default: Any = None, metavar: str | None = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown kind {kind!r} for {name}")
        self.name = name
        self.flags = flags  # empty for the positional PROMPT
        self.kind = kind
        self.default = False if kind == "flag" else default
        self.metavar = metavar
        self.help = help

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"


#: In the order ``gptimg generate --help`` lists them; the first is the positional PROMPT.
PARAMETERS: tuple[Parameter, ...] = (
    Parameter("prompt", (), "text", metavar="PROMPT",
              help="What to draw, in any language (passed verbatim); - reads it from stdin."),
    Parameter("prompt_file", ("--prompt-file", "-f"), "text", metavar="FILE",
              help="Read the prompt from FILE (UTF-8), verbatim."),
    Parameter("style", ("--style", "-s"), "text", metavar="KEY", help="A preset; see: gptimg styles"),
    Parameter("size", ("--size",), "text", metavar="|".join(SIZES), help="Image size (default 1024x1024)."),
    Parameter("n", ("-n", "--images"), "int", metavar="1..4", help="Images in the job (default 1)."),
    Parameter("refs", ("--ref",), "texts", metavar="PATH_OR_URL",
              help="Reference image (file or http(s) URL); repeatable."),
    Parameter("out", ("--out", "-o"), "text", metavar="DIR|FILE|PATTERN",
              help="A folder (default: here), a file (cat.png, .jpg, .webp) or a pattern with "
                   "{i} {job} {slug} {style} {date}."),
    Parameter("overwrite", ("--overwrite",), "flag", help="Replace a file that -o names, if it exists."),
    Parameter("yes", ("--yes", "-y"), "flag", help="Spend the credits without asking (agents: ask first)."),
    Parameter("no_wait", ("--no-wait",), "flag", help="Submit, print the job id and exit; fetch with `result`."),
    Parameter("timeout", ("--timeout",), "float", default=DEFAULT_TIMEOUT, metavar="SECONDS",
              help="Stop waiting after this long (exit 6; job kept)."),
    Parameter("dry_run", ("--dry-run",), "flag", help="Show what would be sent; send nothing."),
    Parameter("sandbox", ("--sandbox",), "flag", help="Run against an embedded local sandbox (no real credits)."),
    Parameter("open_files", ("--open",), "flag", help="Open the saved images in the system viewer."),
)


def by_flag(parameters: tuple[Parameter, ...] = PARAMETERS) -> dict[str, Parameter]:
    """Every flag (``--out``, ``-o``, …) -> its parameter."""
    return {flag: parameter for parameter in parameters for flag in parameter.flags}
