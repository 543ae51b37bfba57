"""``gptimg jobs`` (what the journal remembers) and ``gptimg result`` (fetch any job, for free).

``jobs`` is a query over the journal, nothing more. ``result`` polls and
downloads a job whether or not this machine submitted it; run again, it finds
the files it saved before and downloads nothing. Without ``--out`` it saves
where the job's ``generate`` asked to, so resuming after Ctrl-C puts the image
where it was expected.
"""

from __future__ import annotations

import math
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.cli.jobflow import DEFAULT_TIMEOUT, fetch_job, job_in_flight, report_outcome

if TYPE_CHECKING:
    from gptimg.jobs.journal import JobRecord
    from gptimg.jobs.targets import OutputTarget

PROMPT_WIDTH = 40
_STATUS_STYLE = {"done": "green", "error": "red", "unknown": "yellow", "rejected": "red", "running": "cyan"}


def _parse_time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _local_time(stamp: str) -> str:
    when = _parse_time(stamp)
    return when.astimezone().strftime("%Y-%m-%d %H:%M") if when else stamp


def _shorten(text: str, width: int = PROMPT_WIDTH) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command("jobs")
def jobs(limit: int = typer.Option(20, "--limit", "-l", metavar="N", help="How many (newest first).")) -> None:
    """List recent jobs from the local journal, newest first (full file paths with --json)."""
    if not 1 <= limit <= 10_000:
        raise errors.UsageError("--limit must be from 1 to 10000.")
    records = session.journal(reading=True).recent(limit)
    data = [record.to_dict() for record in records]

    def human() -> None:
        if not records:
            session.output.info("No jobs yet. Make one with: gptimg generate \"a red fox\"")
            return
        from rich.markup import escape
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("time", "status", "job id", "size", "credits"):
            table.add_column(column, no_wrap=True)
        table.add_column("style", overflow="fold")
        table.add_column("prompt", overflow="fold", min_width=12)
        table.add_column("files", overflow="fold")
        for record in records:
            colour = _STATUS_STYLE.get(record.status)
            status = f"[{colour}]{record.status}[/]" if colour else record.status
            if record.sandbox:
                status += " [dim](sandbox)[/]"  # test credits: never to be read as real spend
            credits = f"{record.credits_used:g}" if record.credits_used is not None else ""
            table.add_row(
                _local_time(record.created_at),
                status,
                escape(record.job_id or "—"),
                escape(record.size or ""),
                credits,
                escape(record.style or ""),
                escape(_shorten(record.prompt)),
                escape("\n".join(Path(f).name for f in record.files)),
            )
        session.output.out.print(table)
        if any(record.status == "unknown" for record in records):
            session.output.info("An 'unknown' submit may have been charged: check with `gptimg usage` before retrying.")

    session.output.success(data, meta={"count": len(data)}, human=human)


def _started_monotonic(record: JobRecord | None) -> float | None:
    """When the job began, on the monotonic clock, so progress counts from the submit, not from now."""
    if record is None or not record.prompt:
        return None
    when = _parse_time(record.created_at)
    if when is None:
        return None
    age = (datetime.now(timezone.utc) - when).total_seconds()
    return time.monotonic() - age if age >= 0 else None


def _result_target(out: str | None, record: JobRecord | None, overwrite: bool) -> OutputTarget:
    """``-o`` if given, else the file name or folder the job's ``generate`` asked for, else here."""
    from gptimg.jobs.targets import parse_target

    fallback = (record.out_target or record.out_dir) if record else None
    target = parse_target(out, fallback=fallback, overwrite=overwrite)
    target.require_converter()
    if out is not None and record is not None and record.n:
        # Free, but a name the user typed that holds someone else's file is still refused.
        if not any(Path(f).exists() for f in record.files):
            target.refuse_existing(record.n, label=record.name or record.prompt or "image", style=record.style)
    return target


@app.command("result")
def result(
    job_id: str = typer.Argument(..., metavar="JOB_ID", help="The id `generate` printed (or any job of yours)."),
    out: Optional[str] = typer.Option(
        None, "--out", "-o", metavar="DIR|FILE|PATTERN",
        help="A folder, file or pattern, as for generate (default: where generate meant to, else here).",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a file that -o names, if it exists."),
    timeout: float = typer.Option(
        DEFAULT_TIMEOUT, "--timeout", metavar="SECONDS", help="Stop waiting after this long (exit 6); 0 = check once."
    ),
    open_files: bool = typer.Option(False, "--open", help="Open the saved images in the system viewer."),
) -> None:
    """Wait for a job and save its images (free; safe to run again)."""
    from gptimg.jobs.pipeline import usable_job_id

    job_id = job_id.strip()
    if not usable_job_id(job_id):
        raise errors.UsageError(
            "That is not a job id (empty, too long, or with spaces or control characters).",
            hint="See recent jobs with: gptimg jobs",
        )
    if not (timeout >= 0 and math.isfinite(timeout)):
        raise errors.UsageError(f"--timeout must be a number of seconds >= 0, not {timeout!r}.")
    journal = session.journal()
    record = journal.get(job_id)
    target = _result_target(out, record, overwrite)
    client = session.client()
    if record is not None and record.gateway and record.gateway != client.base_url:
        session.output.warn(f"Job {job_id} was submitted to {record.gateway}; asking {client.base_url}.")
    with job_in_flight(job_id):
        try:
            outcome = fetch_job(
                client,
                journal,
                job_id,
                out_dir=target.directory,
                timeout=timeout,
                label=(record.name or record.prompt or None) if record else None,
                estimated=record.estimated_seconds if record else None,
                started=_started_monotonic(record),
                target=target,
            )
        except errors.JobNotFound as exc:
            if record is None:
                # Never submitted from here and unknown to the gateway: most likely a typo.
                raise errors.JobNotFound(
                    f"No such job: {job_id}.", job_id=job_id, hint="See your recent jobs with: gptimg jobs"
                ) from None
            raise exc
    meta = {"credits_used": 0, "job_credits_used": outcome.credits_used}
    report_outcome(outcome, meta=meta, open_files=open_files)
