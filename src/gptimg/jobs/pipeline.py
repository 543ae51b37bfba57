"""The one job-state machine: submit -> long-poll -> download, the journal written at every step.

Two halves, used alike by ``generate``, ``result``, ``batch`` and the MCP server:

- the submit half, :func:`submit_job`: spends credits once and gets the job id
  to the caller and into the journal (or, failing that, the fallback file)
  whatever goes wrong after the answer;
- the finish half, :func:`await_job` (long-poll, free) then :func:`save_job`
  (download, free, one process at a time per job), or both at once with
  :func:`finish_job`. Safe to run again at any time.

Progress reaches the screen through a ``JobObserver``, so this module never prints.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Protocol

from gptimg import errors
from gptimg.image_tool import DEFAULT_ESTIMATED_SECONDS, MAX_WAIT_SECONDS
from gptimg.jobs.answer_numbers import MAX_CREDITS, MAX_ESTIMATED_SECONDS, sane_credits, sane_estimate  # noqa: F401
from gptimg.jobs.download import SavedImage, asked_items, save_job_images
from gptimg.jobs.ids import usable_job_id
from gptimg.jobs.journal import DONE, JobJournal, JobRecord
from gptimg.jobs.lock import job_lock
from gptimg.jobs.signals import paid_section
from gptimg.params import GenerationRequest

if TYPE_CHECKING:  # annotations only: importing the journal (``gptimg jobs``) does not load httpx
    from gptimg.gateway import GatewayClient
    from gptimg.jobs.targets import OutputTarget

FINAL_STATES = ("done", "error")
#: A server that answers a long-poll at once (ignoring wait_seconds) is paced to this.
MIN_POLL_INTERVAL = 1.0
#: ``save_job``'s ``on_journaled``: the saved images, and None once their row is written (else the failure).
Journaled = Callable[[list[SavedImage], Optional[BaseException]], None]


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
    """A submit the gateway accepted: its id, when it left, and whether the journal holds it."""

    row_id: int
    job_id: str
    estimated_seconds: int
    credits_used: float | None
    submitted_at: float = field(default_factory=time.monotonic)
    #: False when the journal could not take the id (it went to the fallback file instead).
    journaled: bool = True


@dataclass
class JobOutcome:
    """How a job ended and what was saved; the journal's record gives its credits."""

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


# --- the submit half ------------------------------------------------------------------------


def send_submit(
    client: GatewayClient, request: GenerationRequest, reference_field: str | None, idempotency_key: str | None = None
) -> Any:
    """The one paid request; resent with the same key only if the catalogue declares the submit idempotent."""
    return client.submit(request.arguments(reference_field), idempotency_key=idempotency_key)


def _refused(exc: errors.GptimgError) -> bool:
    """The gateway said no in its own words (an error envelope), or the request never left: nothing charged."""
    if isinstance(exc, (errors.SubmitOutcomeUnknown, errors.InvalidResponse)):
        return False
    return isinstance(exc, (errors.GatewayError, errors.AuthError, errors.TransportError, errors.BadInput))


def _settle(mark: Callable[[int, str], None], row_id: int, reason: str) -> None:
    """Write a submit's fate; a journal that cannot take it leaves the row ``submitting`` (shown as unknown)."""
    try:
        mark(row_id, reason)
    except errors.JournalUnavailable:
        pass


class _NoUsableJobId(errors.SubmitOutcomeUnknown):
    """An answer without a job id we can use; ``journal_note`` is what the journal keeps of it."""

    def __init__(self, message: str, journal_note: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.journal_note = journal_note


def _job_id_of(data: dict[str, Any], envelope: Any) -> str:
    job_id = data.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise _NoUsableJobId("The gateway accepted the submit but sent no job id.",
                             "the submit answer carried no job id", body=envelope)
    if not usable_job_id(job_id):
        # Control or bidi characters would reach the terminal and the file names; keep it escaped.
        raise _NoUsableJobId(
            "The gateway accepted the submit but sent an unusable job id (control characters or too long).",
            f"the submit answer carried an unusable job id: {job_id!r:.300}",
        )
    return job_id


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
    sandbox: bool | None = None,
    out_target: str | None = None,
) -> SubmittedJob:
    """Spend credits once: journal row first, then the submit, then the job id out and into the row.

    Never retried. From the send on, nothing ends as ``rejected`` ("not charged")
    unless the gateway refused in an error envelope; anything else is ``unknown``
    and raised as ``SubmitOutcomeUnknown``. Once an answer carries a job id,
    ``on_submitted`` hears of it before anything else can fail (print it there);
    then it goes into the journal, or into the fallback file when the journal
    cannot take it (then ``JournalUnavailable`` is raised, carrying the id).

    Signals are held from the send until the id is written (main thread only), so
    Ctrl-C cannot lose a paid job; a held signal is raised as this function ends,
    after ``on_submitted``. Worker threads get no such protection: their caller
    (the batch command) must let submits in flight answer before it leaves.
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
        sandbox=sandbox,
        out_target=out_target,
    )
    with paid_section(on_hold):
        try:
            result = send_submit(client, request, reference_field, journal.idempotency_key(row_id))
            data = result.data if isinstance(result.data, dict) else {}
            job_id = _job_id_of(data, result.envelope)
        except errors.GptimgError as exc:
            if _refused(exc):
                _settle(journal.mark_rejected, row_id, f"{exc.code}: {exc.message}")
                raise
            _settle(journal.mark_unknown, row_id, getattr(exc, "journal_note", exc.message))
            if isinstance(exc, errors.SubmitOutcomeUnknown):
                raise
            raise errors.SubmitOutcomeUnknown(
                f"{exc.message} The submit may have been charged.", details=exc.details
            ) from None
        except BaseException:
            _settle(journal.mark_unknown, row_id, "interrupted while the submit was in flight")
            raise
        submitted = SubmittedJob(
            row_id=row_id,
            job_id=job_id,
            estimated_seconds=sane_estimate(data.get("estimated_seconds")),
            credits_used=sane_credits(result.credits_used),
        )
        if on_submitted is not None:
            on_submitted(submitted)
        _journal_job_id(journal, submitted, request, out_dir=out_dir, batch_key=batch_key, name=name)
    return submitted


def _journal_job_id(
    journal: JobJournal,
    job: SubmittedJob,
    request: GenerationRequest,
    *,
    out_dir: Path | None,
    batch_key: str | None,
    name: str | None,
) -> None:
    """The id into its row; when the journal cannot take it, into the fallback file, and say so."""
    try:
        journal.record_job_id(
            job.row_id, job.job_id, estimated_seconds=job.estimated_seconds, credits_used=job.credits_used
        )
        return
    except errors.JournalUnavailable as exc:
        failure = exc
    object.__setattr__(job, "journaled", False)
    kept = journal.keep_in_fallback(
        job.row_id, job.job_id, gateway=None, prompt=request.prompt, style=request.style, size=request.size,
        out_dir=str(out_dir) if out_dir is not None else None, batch_key=batch_key, name=name,
        credits_used=job.credits_used, reason=failure.message,
    )
    where = f"it is kept in {kept}" if kept is not None else "it could not be written anywhere: note it now"
    raise errors.JournalUnavailable(
        f"Job {job.job_id} was submitted (and charged), but {failure.message[0].lower()}{failure.message[1:]}",
        hint=f"The job keeps running; {where}. Fetch it with: gptimg result {job.job_id}",
        details={"job_id": job.job_id, **failure.details},
    ) from None


# --- the finish half ------------------------------------------------------------------------


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
        data = client.poll_result(job_id, wait, deadline=deadline).data
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
            error = data.get("error")
            message = error if isinstance(error, str) else "the model reported an error"
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


def await_job(
    client: GatewayClient,
    journal: JobJournal,
    job_id: str,
    *,
    timeout: float | None,
    observer: JobObserver,
    estimated: float | None = None,
    started: float | None = None,
    record: JobRecord | None = None,
    journal_items: bool = True,
) -> list[dict[str, Any]]:
    """The poll half: the done job's items, journaled (unless the caller saves them at once); free, repeatable.

    Only the gateway's own terminal ``error`` marks the job failed (``JobFailed``,
    the one state that lets a batch line be paid for again, with the user's say).
    A job the gateway does not know (``JobNotFound``, maybe for a moment) is
    recorded as such and stays fetchable: ``gptimg result`` or a batch re-run asks again.
    ``record``: the job's row as the caller just read it (``ensure_job``), saving a read.
    """
    record = record or journal.ensure_job(job_id, gateway=client.base_url)
    if record.status == DONE and record.items:
        return record.items
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
    except errors.JobFailed as exc:
        journal.mark_error(job_id, exc.message, code=exc.code)
        raise
    except errors.JobNotFound as exc:
        journal.mark_error(job_id, exc.message, code=exc.code)
        raise
    data["items"] = asked_items(data["items"], record.n, job_id, getattr(observer, "notice", None))
    if journal_items:  # else ``save_job`` journals them with the files: one write an image fewer in a batch
        journal.mark_done(job_id, data["items"])
    items: list[dict[str, Any]] = data["items"]
    return items


def save_job(
    client: GatewayClient,
    journal: JobJournal,
    job_id: str,
    items: list[dict[str, Any]],
    *,
    out_dir: Path,
    label: str,
    observer: JobObserver,
    deadline: float | None = None,
    target: OutputTarget | None = None,
    record: JobRecord | None = None,
    on_journaled: Journaled | None = None,
    new_job: bool = False,
) -> list[SavedImage]:
    """The download half: each image of a done job saved once into ``out_dir``, even by two processes at once.

    A per-job lock (next to the journal) lets one process download while another
    waits, then finds the files already saved and reuses them. A ``target`` that
    names the files (``-o cat.png``, a pattern) saves them under those names. ``record``, the
    job's row the caller already holds, gives the provenance stamp without reading it again.

    ``on_journaled`` (a batch's download threads): the files go into the journal with the
    next group commit and this returns at once; ``on_journaled(images, None)``, or the
    journal's failure, comes from the thread that commits them (``GroupCommit.write_later``).
    ``new_job``: the caller submitted the job in this run (see ``save_job_images``).
    """
    with job_lock(journal.folder, job_id):
        try:
            from gptimg.provenance import png_stamper

            named = target is not None and target.named
            if named or record is None:  # named targets need the files saved so far: read them now
                record = journal.get(job_id)
            stamp = png_stamper(record, job_id, len(items)) if record is not None else None  # inside each PNG
            if target is not None and named:
                from gptimg.jobs.targets import save_to_target

                images = save_to_target(
                    client, job_id, items, target, label, style=record.style if record else None,
                    known_files=record.files if record else None, on_saved=observer.saved, deadline=deadline,
                    stamp=stamp,
                )
            else:
                images = save_job_images(
                    client, job_id, items, out_dir, label, on_saved=observer.saved, deadline=deadline, stamp=stamp,
                    new_job=new_job,
                )
        except errors.JobError as exc:
            journal.note_problem(job_id, exc.message)
            raise
    files = [str(image.path) for image in images]
    if on_journaled is None:
        journal.mark_done(job_id, items, files)
    else:
        journal.mark_done(job_id, items, files, later=lambda failure: on_journaled(images, failure))
    return images


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
    target: OutputTarget | None = None,
) -> JobOutcome:
    """Both finish halves: poll (free) and download a job, recording each step; safe to run again at any time.

    With a ``target`` that names the files (``-o cat.png``), they are saved under those names.
    """
    deadline = None if timeout is None else time.monotonic() + timeout  # bounds the downloads too
    record = journal.ensure_job(job_id, gateway=client.base_url, out_dir=str(out_dir))
    label = label or record.name or record.prompt or "image"
    items = await_job(client, journal, job_id, timeout=timeout, observer=observer, estimated=estimated,
                      started=started, record=record)
    images = save_job(client, journal, job_id, items, out_dir=out_dir, label=label, observer=observer,
                      deadline=deadline, target=target, record=record)
    return JobOutcome(job_id=job_id, status="done", items=items, images=images, record=journal.get(job_id))
