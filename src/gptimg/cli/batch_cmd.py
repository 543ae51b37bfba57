"""``gptimg batch`` as a Typer command, built from the one table of its arguments.

The parameters come from :data:`gptimg.cli.batch_options.PARAMETERS`, the same table
the Typer-free quick reader (``quick_line``) reads. The work itself is
:func:`gptimg.cli.batch_flow.run_batch`.
"""

from __future__ import annotations

from typing import Any

from gptimg.cli import batch_flow
from gptimg.cli.batch_options import PARAMETERS
from gptimg.cli.table_command import register


def _batch(**arguments: Any) -> int:
    return batch_flow.run_batch(**arguments)  # looked up at each call: tests replace it


register("batch", PARAMETERS, _batch,
         "Generate many images from a manifest (JSONL, CSV or .txt): concurrent, rate-limited, resumable.")
