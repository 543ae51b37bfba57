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
from typing import TYPE_CHECKING, Any, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.cli.jobflow import DEFAULT_TIMEOUT, fetch_job, job_in_flight, report_outcome

if TYPE_CHECKING:
    from gptimg.jobs.history import JobFilter
    from gptimg.jobs.journal import JobJournal, JobRecord
    from gptimg.jobs.targets import OutputTarget

#: ``gptimg jobs`` lists; ``gptimg jobs show JOB_ID`` tells one job's story.
jobs_app = typer.Typer(
    help="The jobs this machine submitted: one line each (tab-separated on a pipe); `jobs show ID` for one.",
    no_args_is_help=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(jobs_app, name="jobs")

MAX_LIMIT = 1_000_000


def _parse_time(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def job_filter(search: str | None, status: list[str] | None, since: str | None, style: str | None) -> JobFilter:
    """The filters ``jobs`` and ``gallery`` share, checked before anything is read."""
    from gptimg.jobs.history import JobFilter, parse_since, parse_statuses

    return JobFilter(search=search or None, statuses=parse_statuses(status), since=parse_since(since),
                     style=style or None)


SEARCH_OPTION = typer.Option(None, "--search", metavar="TEXT", help="Only jobs whose prompt contains TEXT.")
STATUS_OPTION = typer.Option(
    None, "--status", metavar="STATUS", help="Only jobs in this status (done, error, unknown, running...); repeatable."
)
SINCE_OPTION = typer.Option(None, "--since", metavar="WHEN", help="Only jobs since: 7d, 12h, today, 2026-11-01...")
STYLE_OPTION = typer.Option(None, "--style", metavar="KEY", help="Only jobs with this style ('none' for none).")


@jobs_app.callback(invoke_without_command=True)
def jobs(
    ctx: typer.Context,
    limit: int = typer.Option(20, "--limit", "-l", metavar="N", help="How many (newest first)."),
    search: Optional[str] = SEARCH_OPTION,
    status: Optional[list[str]] = STATUS_OPTION,
    since: Optional[str] = SINCE_OPTION,
    style: Optional[str] = STYLE_OPTION,
) -> None:
    """List jobs from the local journal, newest first: a line each, or tab-separated values on a pipe."""
    if ctx.invoked_subcommand is not None:
        return
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.UsageError(f"--limit must be from 1 to {MAX_LIMIT}.")
    from gptimg.jobs import history

    where = job_filter(search, status, since, style)
    journal = session.journal(reading=True)
    if session.output.json_mode:
        data = history.full_listing(journal, where, limit)
        session.output.success(data, meta={"count": len(data)})
        return
    _print_listing(journal, where, limit)


def _print_listing(journal: JobJournal, where: JobFilter, limit: int) -> None:
    import shutil
    import sys

    from gptimg.cli import jobs_format
    from gptimg.jobs import history

    rows = history.listing(journal, where, limit)
    files = [history.files_of(row) for row in rows]
    if not sys.stdout.isatty():
        sandbox_known = history.has_sandbox_column(journal)
        sys.stdout.write("".join(line + "\n" for line in jobs_format.tsv_lines(rows, files, sandbox_known)))
        if not rows:
            session.output.info(_nothing_message(where))
        _hint_unknown(rows)
        return
    if not rows:
        session.output.info(_nothing_message(where))
        return
    width = shutil.get_terminal_size((80, 24)).columns
    sys.stdout.write("".join(line + "\n" for line in jobs_format.job_lines(rows, files, width)))
    sys.stdout.write(jobs_format.fit(jobs_format.totals_line(history.totals(journal, where), len(rows)), width).rstrip())
    sys.stdout.write("\n")
    sys.stdout.flush()
    _hint_unknown(rows)


def _hint_unknown(rows: list[Any]) -> None:
    """On stderr, so a pipe's TSV stays clean: where to learn whether a doubtful submit was charged."""
    if any(row["status"] == "unknown" for row in rows):
        session.output.info("An 'unknown' submit may have been charged: check with `gptimg usage` before retrying.")


def _nothing_message(where: JobFilter) -> str:
    if where.where()[0]:
        return "No jobs match these filters."
    return 'No jobs yet. Make one with: gptimg generate "a red fox"'


@jobs_app.command("show")
def show(job_id: str = typer.Argument(..., metavar="JOB_ID", help="A job id (or #ROW from `gptimg jobs`).")) -> None:
    """Everything known about one job: request, timings, status history, files, and how to resume it."""
    from gptimg.cli.jobs_show import job_story, story_lines
    from gptimg.gateway.urls import resolve_base_url
    from gptimg.jobs.history import find

    journal = session.journal(reading=True)
    row = find(journal, job_id.strip())
    if row is None:
        raise errors.UsageError(
            f"No job {job_id.strip()!r} in this machine's journal.", hint="See recent jobs with: gptimg jobs"
        )
    try:
        default_gateway: str | None = resolve_base_url(session.base_url_flag)
    except errors.GptimgError:
        default_gateway = None
    story = job_story(journal, row, default_gateway)

    def human() -> None:
        import sys

        sys.stdout.write("".join(line + "\n" for line in story_lines(story)))
        sys.stdout.flush()

    session.output.success(story, human=human)


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
