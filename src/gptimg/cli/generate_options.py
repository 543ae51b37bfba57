"""``generate``'s arguments, written once (see ``option_table``): its Typer command and the quick reader read this."""

from __future__ import annotations

from gptimg.cli.jobflow import DEFAULT_TIMEOUT
from gptimg.cli.option_table import Parameter
from gptimg.image_tool import SIZES

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
