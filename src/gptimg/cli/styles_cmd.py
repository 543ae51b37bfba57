"""``gptimg styles``: the 20 presets."""

from __future__ import annotations

from gptimg.cli.app import app, session
from gptimg.styles import STYLES


@app.command("styles")
def styles() -> None:
    """List the 20 style presets (use the key with --style)."""

    def human() -> None:
        from rich.table import Table

        table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        table.add_column("key")
        table.add_column("description")
        for key, description in STYLES.items():
            table.add_row(key, description)
        session.output.out.print(table)

    session.output.success([{"key": k, "description": d} for k, d in STYLES.items()], human=human)
