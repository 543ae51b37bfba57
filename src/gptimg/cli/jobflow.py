"""What ``generate`` and ``result`` share once a job exists: fetch it, report it, or say how to resume.

A paid job must never be lost to the person, whatever stops us: Ctrl-C,
SIGTERM, a timeout, a dropped connection or a full disk. So every path out of
:func:`job_in_flight` names the job id and the exact command that fetches it
later, on stderr for people and in the envelope (``job_id``, ``hint``) for
``--json``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptimg import errors
from gptimg.cli.session import session

if TYPE_CHECKING:  # imported where used: building the app (and --help) needs neither httpx nor the journal
    from gptimg.cli.progress import JobProgress
    from gptimg.gateway import GatewayClient
    from gptimg.jobs import JobJournal, JobOutcome, SubmittedJob
    from gptimg.jobs.targets import OutputTarget

#: A job that is not done after this long is reported as still running (exit 6), not waited on forever.
DEFAULT_TIMEOUT = 600.0


def resume_command(job_id: str) -> str:
    """The command that fetches this job later, with ``--base-url`` when one was given on the line."""
    import shlex  # only when a job id is handed back (--no-wait, a stop, a failure)
    command = f"gptimg result {shlex.quote(job_id)}"
    if session.base_url_flag:
        command += f" --base-url {shlex.quote(session.base_url_flag)}"
    return command


def _with_resume_hint(exc: errors.GptimgError, job_id: str) -> None:
    exc.details.setdefault("job_id", job_id)
    if isinstance(exc, (errors.JobFailed, errors.JobNotFound)):
        return  # nothing left to fetch
    command = resume_command(job_id)
    if command not in exc.hint:
        kept = f"The job {job_id} is kept; fetch it with: {command}"
        exc.hint = f"{exc.hint} {kept}".strip() if exc.hint else kept


class InFlight:
    """The job a command is looking after; ``job_id`` stays None until a submit has one."""

    def __init__(self, job_id: str | None = None) -> None:
        self.job_id = job_id

    def record(self, job: SubmittedJob) -> None:
        """``submit_job``'s ``on_submitted``: called even when a held Ctrl-C follows at once."""
        self.job_id = job.job_id


@contextmanager
def job_in_flight(flight: InFlight | str) -> Iterator[None]:
    """Around everything from the submit on: failures carry the job id, interrupts print the way back."""
    if isinstance(flight, str):
        flight = InFlight(flight)
    try:
        yield
    except (KeyboardInterrupt, errors.Terminated) as stop:
        job_id = flight.job_id
        if job_id is None:
            raise
        code = "terminated" if isinstance(stop, errors.Terminated) else "interrupted"
        exit_code = errors.EXIT_TERMINATED if code == "terminated" else errors.EXIT_INTERRUPTED
        command = resume_command(job_id)
        message = f"Stopped waiting. Job {job_id} keeps running on the gateway; nothing is lost."
        session.output.info(f"\n{message}\nFetch it with: [bold]{command}[/]")
        if session.output.json_mode and not session.output.emitted:
            session.output.emit_json(
                {
                    "success": False,
                    "error": code,
                    "message": message,
                    "hint": f"Fetch it with: {command}",
                    "job_id": job_id,
                    "exit_code": exit_code,
                }
            )
        raise
    except errors.GptimgError as exc:
        if flight.job_id is not None:
            _with_resume_hint(exc, flight.job_id)
        raise


def fetch_job(
    client: GatewayClient,
    journal: JobJournal,
    job_id: str,
    *,
    out_dir: Path,
    timeout: float | None,
    label: str | None = None,
    estimated: float | None = None,
    started: float | None = None,
    progress: JobProgress | None = None,
    target: OutputTarget | None = None,
) -> JobOutcome:
    """Poll (free) and download with the progress display up; it is gone before anything else prints."""
    from gptimg.cli.progress import JobProgress
    from gptimg.jobs import finish_job

    progress = progress or JobProgress(session.output.err, job_id=job_id, estimated=estimated, started=started)
    with progress:
        return finish_job(
            client,
            journal,
            job_id,
            out_dir=out_dir,
            timeout=timeout,
            observer=progress,
            label=label,
            estimated=estimated,
            started=started,
            target=target,
        )


def outcome_data(outcome: JobOutcome) -> dict[str, Any]:
    """The envelope's ``data``: ``{"job_id", "status", "items": [{"url", "path", "downloaded"}]}``."""
    data = outcome.to_data()
    for item, image in zip(data["items"], outcome.images):
        item["downloaded"] = image.downloaded
    return data


def whole(value: float | None) -> float | int | None:
    """Credits read back from the journal's REAL column: ``300.0`` is shown as ``300``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def report_outcome(outcome: JobOutcome, *, meta: dict[str, Any], open_files: bool) -> None:
    """Saved paths on stdout (one per line, for pipes) or the envelope; then the viewer if asked."""
    meta = {key: whole(value) if isinstance(value, float) else value for key, value in meta.items()}

    def human() -> None:
        fresh = sum(1 for image in outcome.images if image.downloaded)
        if fresh < len(outcome.images):
            session.output.info(
                f"[dim]{len(outcome.images) - fresh} of {len(outcome.images)} already saved; not downloaded again.[/]"
            )
        for image in outcome.images:
            session.output.out.print(str(image.path), markup=False, highlight=False)

    session.output.success(outcome_data(outcome), meta=meta, human=human)
    if open_files:
        from gptimg.cli import browser  # and subprocess: only when asked to open

        why_not = browser.why_not_open()
        if why_not is not None:
            session.output.warn(f"Not opening the images ({why_not}).")
        elif not browser.open_files([image.path for image in outcome.images]):
            session.output.warn("Could not open the images in a viewer.")


def resolve_out_dir(raw: str | None, fallback: str | None = None) -> Path:
    """``--out`` (or ``fallback``, or the current folder) as an absolute path, checked before any spend."""
    path = Path(raw or fallback or ".").expanduser()
    path = path if path.is_absolute() else Path.cwd() / path
    if path.exists() and not path.is_dir():
        raise errors.OutputNotWritable(f"--out {path} exists and is not a folder.")
    probe = path
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise errors.OutputNotWritable(f"Cannot write into {probe}.", hint="Pick another folder with --out DIR.")
    return path
