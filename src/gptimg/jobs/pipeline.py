"""Submit -> long-poll -> download, with the journal written at every step.

Both CLIs and the batch runner use these three functions; progress reaches the
screen through a ``JobObserver`` so this module never prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol

from gptimg import errors
from gptimg.jobs.download import SavedImage, save_job_images
from gptimg.jobs.ids import usable_job_id
from gptimg.jobs.journal import DONE, JobJournal, JobRecord
from gptimg.jobs.signals import paid_section
from gptimg.params import GenerationRequest
from gptimg.styles import DEFAULT_ESTIMATED_SECONDS, MAX_WAIT_SECONDS

if TYPE_CHECKING:  # annotations only: importing the journal (``gptimg jobs``) does not load httpx
    from gptimg.gateway import GatewayClient

FINAL_STATES = ("done", "error")
#: A server that answers a long-poll at once (ignoring wait_seconds) is paced to this.
MIN_POLL_INTERVAL = 1.0


class JobObserver(Protocol):
    def submitted(self, job: SubmittedJob) -> None: ...
    def status(self, job_id: str, status: str, elapsed: float, estimated: float) -> None: ...
    def saved(self, image: SavedImage) -> None: ...


class SilentObserver:
    def submitted(self, job: SubmittedJob) -> None:
        pass

    def status(self, job_id: str, status: str, elapsed: float, estimated: float) -> None:
        pass

    def saved(self, image: SavedImage) -> None:
        pass


@dataclass(frozen=True)
class SubmittedJob:
    row_id: int
    job_id: str
    estimated_seconds: int
    credits_used: float | None
    submitted_at: float = field(default_factory=time.monotonic)


@dataclass
class JobOutcome:
    job_id: str
    status: str
    items: list[dict[str, Any]]
    images: list[SavedImage]
    record: JobRecord | None

    @property
    def credits_used(self) -> float | None:
        return self.record.credits_used if self.record else None

    def to_data(self) -> dict[str, Any]:
        """The ``data`` of the ``--json`` envelope."""
        return {
            "job_id": self.job_id,
            "status": self.status,
            "items": [{"url": image.url, "path": str(image.path)} for image in self.images],
        }


def _int_or(value: Any, default: int) -> int:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0 else default


def submit_job(
    client: GatewayClient,
    journal: JobJournal,
    request: GenerationRequest,
    *,
    reference_field: str | None = None,
    account: str | None = None,
    out_dir: Path | None = None,
    batch_key: str | None = None,
    name: str | None = None,
    conflicts: Callable[[JobRecord], bool] | None = None,
    on_hold: Callable[[], None] | None = None,
    on_submitted: Callable[[SubmittedJob], None] | None = None,
) -> SubmittedJob:
    """Spend credits once: journal row first, then the submit, then the job id into the row.

    Signals are held from the send until the job id is written, so Ctrl-C cannot
    lose a paid job. Never retried: a doubtful outcome is recorded as ``unknown``.
    A signal held meanwhile is raised as this function ends, so it never returns the
    job then: ``on_submitted`` hears of it first, and the caller can say which job
    keeps running and how to fetch it.
    """
    row_id = journal.record_submit(
        gateway=client.base_url,
        account=account,
        prompt=request.prompt,
        style=request.style,
        size=request.size,
        n=request.n,
        reference_urls=reference_field,
        out_dir=str(out_dir) if out_dir is not None else None,
        batch_key=batch_key,
        name=name,
        conflicts=conflicts,
    )
    with paid_section(on_hold):
        try:
            # Sent once; retried with the same key only if the catalogue declares the submit idempotent.
            result = client.submit(request.arguments(reference_field), idempotency_key=journal.idempotency_key(row_id))
        except errors.SubmitOutcomeUnknown as exc:
            journal.mark_unknown(row_id, exc.message)
            raise
        except errors.GptimgError as exc:
            journal.mark_rejected(row_id, f"{exc.code}: {exc.message}")
            raise
        except BaseException:
            journal.mark_unknown(row_id, "interrupted while the submit was in flight")
            raise
        data = result.data if isinstance(result.data, dict) else {}
        job_id = data.get("job_id")
        if not isinstance(job_id, str) or not job_id.strip():
            journal.mark_unknown(row_id, "the submit answer carried no job id")
            raise errors.SubmitOutcomeUnknown(
                "The gateway accepted the submit but sent no job id.", body=result.envelope
            )
        if not usable_job_id(job_id):
            # Control or bidi characters would reach the terminal and the file names; keep it escaped.
            journal.mark_unknown(row_id, f"the submit answer carried an unusable job id: {job_id!r:.300}")
            raise errors.SubmitOutcomeUnknown(
                "The gateway accepted the submit but sent an unusable job id (control characters or too long)."
            )
        submitted = SubmittedJob(
            row_id=row_id,
            job_id=job_id,
            estimated_seconds=_int_or(data.get("estimated_seconds"), DEFAULT_ESTIMATED_SECONDS),
            credits_used=result.credits_used,
        )
        journal.record_job_id(
            row_id, job_id, estimated_seconds=submitted.estimated_seconds, credits_used=submitted.credits_used
        )
        if on_submitted is not None:
            on_submitted(submitted)
    return submitted


def wait_for_job(
    client: GatewayClient,
    job_id: str,
    *,
    timeout: float | None,
    observer: JobObserver,
    estimated: float = DEFAULT_ESTIMATED_SECONDS,
    started: float | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    on_first_answer: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Long-poll until the job is done (its data) or failed (``JobFailed``) or time is up.

    No sleep between polls: the server already held each one up to 50 s and
    answers the moment the job ends. ``on_first_answer`` runs once, when the first
    answer finds the job still open (queued or running).
    """
    began = clock()
    started = began if started is None else started
    deadline = None if timeout is None else began + timeout
    first = True
    while True:
        wait = MAX_WAIT_SECONDS
        if deadline is not None:
            wait = int(max(0, min(MAX_WAIT_SECONDS, deadline - clock())))
        asked = clock()
        data = client.poll_result(job_id, wait).data
        if not isinstance(data, dict) or not isinstance(data.get("status"), str):
            raise errors.InvalidResponse(f"The result for job {job_id} has no status.", body=data)
        status = data["status"]
        if first and on_first_answer is not None and status not in FINAL_STATES:
            # Only an open job is worth a "running" row: a first answer of done or error is
            # written as such by the caller at once (one journal commit fewer per job).
            on_first_answer()
        first = False
        observer.status(job_id, status, clock() - started, estimated)
        if status == "done":
            items = data.get("items")
            if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
                raise errors.InvalidResponse(f"Job {job_id} is done but lists no images.", body=data)
            return data
        if status == "error":
            message = data.get("error") if isinstance(data.get("error"), str) else "the model reported an error"
            raise errors.JobFailed(f"Job {job_id} failed: {message}", job_id=job_id)
        if deadline is not None and clock() >= deadline:
            raise errors.JobStillRunning(
                f"Job {job_id} is still {status} after {timeout:g} s.",
                job_id=job_id,
                hint=f"It keeps running on the gateway. Fetch it later: gptimg result {job_id}",
            )
        spent = clock() - asked
        if spent < MIN_POLL_INTERVAL and wait > 0:
            sleep(MIN_POLL_INTERVAL - spent)


def finish_job(
    client: GatewayClient,
    journal: JobJournal,
    job_id: str,
    *,
    out_dir: Path,
    timeout: float | None,
    observer: JobObserver,
    label: str | None = None,
    estimated: float | None = None,
    started: float | None = None,
) -> JobOutcome:
    """Poll (free) and download a job, recording each step; safe to run again at any time."""
    record = journal.ensure_job(job_id, gateway=client.base_url, out_dir=str(out_dir))
    label = label or record.name or record.prompt or "image"
    if record.status == DONE and record.items:
        data: dict[str, Any] = {"status": "done", "items": record.items}
    else:
        try:
            data = wait_for_job(
                client,
                job_id,
                timeout=timeout,
                observer=observer,
                estimated=estimated or record.estimated_seconds or DEFAULT_ESTIMATED_SECONDS,
                started=started,
                on_first_answer=lambda: journal.mark_running(job_id),
            )
        except (errors.JobFailed, errors.JobNotFound) as exc:
            journal.mark_error(job_id, exc.message)
            raise
        journal.mark_done(job_id, data["items"])
    try:
        images = save_job_images(client, job_id, data["items"], out_dir, label, on_saved=observer.saved)
    except errors.JobError as exc:
        journal.note_problem(job_id, exc.message)
        raise
    journal.mark_done(job_id, data["items"], [str(image.path) for image in images])
    return JobOutcome(job_id=job_id, status="done", items=data["items"], images=images, record=journal.get(job_id))
