"""``gptimg info IMAGE…`` (the record inside an image) and ``gptimg again IMAGE|JOB_ID`` (make it again).

``info`` only reads files: it works on any machine the image travelled to.
``again`` is a new paid job, so it goes through ``generate`` itself, the same
checks, the same cost confirmation and ``--yes`` rule, the same journal row:
it only decides the arguments (the original's, with the changes asked for).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.cli.jobflow import DEFAULT_TIMEOUT
from gptimg.image_tool import SIZES

#: What ``info`` shows a person, in this order (the JSON has every field).
_INFO_FIELDS = (
    ("prompt", "prompt"), ("style", "style"), ("size", "size"), ("image", None), ("job id", "job_id"),
    ("model", "model"), ("gateway", "gateway"), ("created", "created"), ("sandbox", "sandbox"),
    ("made by", "gptimg_version"),
)


def _read(raw: str) -> dict[str, Any]:
    from gptimg.provenance import read_record

    path = Path(raw).expanduser()
    try:
        record = read_record(path)
    except OSError as exc:
        return {"path": str(path), "record": None, "error": exc.strerror or str(exc)}
    return {"path": str(path), "record": record}


def _info_lines(item: dict[str, Any]) -> list[str]:
    from gptimg.cli.jobs_format import neutral

    lines = [neutral(item["path"])]
    record = item["record"]
    if item.get("error"):
        return lines + [f"  cannot read it: {neutral(item['error'])}"]
    if record is None:
        return lines + ["  no gptimg record (not made by gptimg, or its metadata was removed)"]
    for label, key in _INFO_FIELDS:
        if key is None:
            value: Any = f"{record.get('image_index')} of {record.get('image_count')}"
        elif key == "sandbox":
            value = "yes (test credits)" if record.get("sandbox") else "no"
        elif key == "gptimg_version":
            value = f"gptimg {record.get(key, '?')}"
        else:
            value = record.get(key) or ("none" if key == "style" else "")
        lines.append(f"  {label:<9}{neutral(' '.join(str(value).split()) if key != 'prompt' else str(value))}")
    return lines


@app.command("info")
def info(images: list[str] = typer.Argument(..., metavar="IMAGE...", help="Image files to read.")) -> int | None:
    """Show the generation record inside images gptimg saved (prompt, style, size, job, time)."""
    items = [_read(raw) for raw in images]

    def human() -> None:
        text = "\n".join("\n".join(_info_lines(item)) for item in items)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    session.output.success(items, meta={"count": len(items)}, human=human)
    # A file that could not be read at all is a usage error (exit 2), after the others were shown.
    return errors.EXIT_BAD_INPUT if any(item.get("error") for item in items) else None


def original_request(source: str) -> dict[str, Any]:
    """prompt, style, size, n and references of an image (its record) or a job (the journal)."""
    path = Path(source).expanduser()
    if path.is_file():
        from gptimg.provenance import read_record

        record = read_record(path)
        if record is None:
            raise errors.UsageError(
                f"{path} has no gptimg record to repeat.",
                hint="Give the job id instead (see: gptimg jobs), or use gptimg generate.",
            )
        return {"prompt": record.get("prompt"), "style": record.get("style"), "size": record.get("size"),
                "n": record.get("image_count"), "references": []}
    from gptimg.jobs.history import find

    row = find(session.journal(), source.strip())
    if row is None:
        raise errors.UsageError(
            f"{source!r} is neither an image file nor a job in this machine's journal.",
            hint="See recent jobs with: gptimg jobs",
        )
    references = [ref for ref in (row["reference_urls"] or "").split(",") if ref.startswith(("http://", "https://"))]
    return {"prompt": row["prompt"], "style": row["style"], "size": row["size"], "n": row["n"],
            "references": references}


@app.command("again")
def again(
    source: str = typer.Argument(..., metavar="IMAGE|JOB_ID", help="An image gptimg saved, or a job id."),
    prompt: Optional[str] = typer.Option(None, "--prompt", "-p", metavar="TEXT", help="A new prompt."),
    style: Optional[str] = typer.Option(None, "--style", "-s", metavar="KEY", help="Another style ('none': none)."),
    size: Optional[str] = typer.Option(None, "--size", metavar="|".join(SIZES), help="Another size."),
    n: Optional[int] = typer.Option(None, "-n", "--images", metavar="1..4", help="Another number of images."),
    out: Optional[str] = typer.Option(None, "--out", "-o", metavar="DIR", help="Save into DIR (default: here)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Spend the credits without asking (agents: ask first)."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Submit, print the job id and exit; fetch with `result`."),
    timeout: float = typer.Option(DEFAULT_TIMEOUT, "--timeout", metavar="SECONDS", help="Stop waiting after this."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show what would be sent; send nothing."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Run against an embedded local sandbox (no real credits)."),
    open_files: bool = typer.Option(False, "--open", help="Open the saved images in the system viewer."),
) -> None:
    """Run an earlier request again (a new paid job), with any changes: --prompt, --style, --size, -n."""
    base = original_request(source)
    if not (prompt or base["prompt"]):
        raise errors.UsageError(
            "The journal does not know that job's prompt (it was fetched, not submitted, here).",
            hint="Give one with --prompt TEXT.",
        )
    if style is None:
        style = base["style"]
    elif style.strip().lower() in ("", "none"):
        style = None
    chosen = {
        "prompt": prompt if prompt is not None else base["prompt"],
        "style": style,
        "size": size or base["size"],
        "n": n if n is not None else base["n"],
        "refs": base["references"] or None,
    }
    run_generate(**chosen, out=out, yes=yes, no_wait=no_wait, timeout=timeout, dry_run=dry_run, sandbox=sandbox,
                 open_files=open_files)


def run_generate(**given: Any) -> None:
    """Run ``generate``'s body with ``given``; every other parameter takes its default from the command's table.

    Going through the command's own body keeps one submit path (checks,
    confirmation, journal, progress) and stays right when ``generate`` gains options.
    """
    from gptimg.cli import generate_flow
    from gptimg.cli.generate_options import PARAMETERS

    generate_flow.run_generate(**{parameter.name: given.get(parameter.name, parameter.default)
                                  for parameter in PARAMETERS})
