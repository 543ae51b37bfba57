"""``gptimg gallery``: every image the journal knows, on one self-contained HTML page.

The batch contact sheet's page (``gptimg.imagepage``), for the whole journal:
a grid with each image's prompt, style, size, date and job id, a search box, and
files that were moved or deleted shown as missing rather than as broken images.
The same filters as ``gptimg jobs`` choose what is on it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.cli.jobs_cmds import SEARCH_OPTION, SINCE_OPTION, STATUS_OPTION, STYLE_OPTION, job_filter

if TYPE_CHECKING:
    import sqlite3

    from gptimg.imagepage import Tile

DEFAULT_NAME = "gptimg-gallery.html"
MAX_JOBS = 100_000


def gallery_tiles(rows: list[sqlite3.Row]) -> list[Tile]:
    """One tile per saved file of each row, newest job first."""
    from gptimg.cli.jobs_format import local_time
    from gptimg.imagepage import Tile
    from gptimg.jobs.history import files_of

    tiles: list[Tile] = []
    for row in rows:
        files = files_of(row)
        for index, file in enumerate(files, start=1):
            path = Path(file)
            facts = [("style", row["style"] or "none"), ("size", row["size"] or ""),
                     ("date", local_time(row["created_at"], "%Y-%m-%d %H:%M")), ("job", row["job_id"] or ""),
                     ("image", f"{index} of {len(files)}"), ("file", path.name)]
            tiles.append(Tile(path=path, prompt=row["prompt"] or "", facts=facts,
                              attributes={"job-id": row["job_id"] or ""}, exists=path.is_file()))
    return tiles


@app.command("gallery")
def gallery(
    out: Optional[str] = typer.Option(
        None, "--out", "-o", metavar="FILE", help=f"Write the page here (default: ./{DEFAULT_NAME})."
    ),
    open_page: bool = typer.Option(False, "--open", help="Open the page in the browser."),
    limit: int = typer.Option(1000, "--limit", "-l", metavar="N", help="At most N jobs (newest first)."),
    search: Optional[str] = SEARCH_OPTION,
    status: Optional[list[str]] = STATUS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    style: Optional[str] = STYLE_OPTION,
) -> None:
    """Write one HTML page of your saved images, with a search box (works offline, from file://)."""
    from gptimg.imagepage import render_page, write_page
    from gptimg.jobs.history import listing

    if not 1 <= limit <= MAX_JOBS:
        raise errors.UsageError(f"--limit must be from 1 to {MAX_JOBS}.")
    where = dataclasses.replace(job_filter(search, status, since, style), with_files=True)
    target = Path(out or DEFAULT_NAME).expanduser()
    target = target if target.is_absolute() else Path.cwd() / target
    if target.is_dir():
        target = target / DEFAULT_NAME
    rows = listing(session.journal(reading=True), where, limit)
    tiles = gallery_tiles(rows)
    try:
        write_page(render_page(tiles, target.parent, title="gptimg gallery"), target)
    except OSError as exc:
        raise errors.BadInput(f"Cannot write {target}: {exc.strerror or exc}", code="output_not_writable",
                              hint="Pick another place with --out FILE.") from None
    missing = sum(1 for tile in tiles if not tile.exists)
    data = {"path": str(target), "images": len(tiles), "missing": missing, "jobs": len(rows)}

    def human() -> None:
        session.output.out.print(str(target), markup=False, highlight=False)
        note = f", {missing} of them missing" if missing else ""
        session.output.info(f"[dim]{len(tiles)} images from {len(rows)} jobs{note}.[/]")

    session.output.success(data, human=human)
    if open_page:
        from gptimg.cli import browser

        why_not = browser.why_not_open()
        if why_not is not None:
            session.output.warn(f"Not opening the page ({why_not}).")
        elif not browser.open_url(target.as_uri()):
            session.output.warn("Could not open the page in a browser.")
