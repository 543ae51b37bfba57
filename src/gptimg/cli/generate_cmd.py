"""``gptimg generate`` as a Typer command, built from the one table of its arguments.

The parameters come from :data:`gptimg.cli.generate_options.PARAMETERS`, the same
table the Typer-free quick reader (``quick_line``) reads. The work itself is
:func:`gptimg.cli.generate_flow.run_generate`.
"""

from __future__ import annotations

from typing import Any

from gptimg.cli import generate_flow
from gptimg.cli.generate_options import PARAMETERS
from gptimg.cli.table_command import register

EXAMPLES = """[bold]Examples[/]

  gptimg generate "a shiba inu under cherry blossoms" --style ghibli_anime
  gptimg generate "a red fox" -n 2 -o fox.png            [dim](fox-1.png, fox-2.png)[/]
  gptimg generate "a red fox" -o "pics/{slug}-{i}.webp"  [dim](placeholders: {i} {job} {slug} {style} {date})[/]
  echo "a lighthouse at dusk" | gptimg generate -
  gptimg generate --prompt-file brief.txt --size 1536x1024 --dry-run
"""


def _generate(**arguments: Any) -> None:
    generate_flow.run_generate(**arguments)  # looked up at each call: tests replace it


register("generate", PARAMETERS, _generate,
         "Generate images: confirm the cost, submit, wait with progress, save them where -o says.", epilog=EXAMPLES)
