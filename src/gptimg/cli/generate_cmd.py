"""``gptimg generate`` as a Typer command, built from the one table of its arguments.

The parameters come from :data:`gptimg.cli.generate_options.PARAMETERS`, the same
table the Typer-free quick parser (``fast_generate``) reads, so ``--help``,
completion and error messages stay Typer's while both ways of reading a line
agree on every flag. The work itself is :func:`gptimg.cli.generate_flow.run_generate`.
"""

from __future__ import annotations

import inspect
from typing import Any, Optional

import typer

from gptimg.cli import generate_flow
from gptimg.cli.app import app
from gptimg.cli.generate_options import PARAMETERS, Parameter

EXAMPLES = """[bold]Examples[/]

  gptimg generate "a shiba inu under cherry blossoms" --style ghibli_anime
  gptimg generate "a red fox" -n 2 -o fox.png            [dim](fox-1.png, fox-2.png)[/]
  gptimg generate "a red fox" -o "pics/{slug}-{i}.webp"  [dim](placeholders: {i} {job} {slug} {style} {date})[/]
  echo "a lighthouse at dusk" | gptimg generate -
  gptimg generate --prompt-file brief.txt --size 1536x1024 --dry-run
"""

#: Each kind of value as the type Typer reads from the annotation.
ANNOTATIONS: dict[str, Any] = {
    "text": Optional[str],
    "int": Optional[int],
    "float": float,
    "flag": bool,
    "texts": Optional[list[str]],
}


def _typer_default(parameter: Parameter) -> Any:
    """``typer.Argument(...)`` for the PROMPT, ``typer.Option(...)`` for each flag, as one would write them."""
    if not parameter.flags:
        return typer.Argument(parameter.default, metavar=parameter.metavar, help=parameter.help)
    return typer.Option(parameter.default, *parameter.flags, metavar=parameter.metavar, help=parameter.help)


def generate(**arguments: Any) -> None:
    """Generate images: confirm the cost, submit, wait with progress, save them where -o says."""
    generate_flow.run_generate(**arguments)


generate.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
    [
        inspect.Parameter(
            parameter.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=_typer_default(parameter),
            annotation=ANNOTATIONS[parameter.kind],
        )
        for parameter in PARAMETERS
    ],
    return_annotation=None,
)
generate.__annotations__ = {parameter.name: ANNOTATIONS[parameter.kind] for parameter in PARAMETERS}
app.command("generate", epilog=EXAMPLES)(generate)
