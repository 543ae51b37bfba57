"""The five tools' behaviour, apart from how they are declared to MCP (``server.py``).

Order inside ``generate_image`` is the CLI's, for the same reasons: every offline
check first (a typo costs nothing and sends nothing), then the free reads of
price and balance, then consent, then the one paid request, which a cancelled
call cannot interrupt (it is shielded until the journal has the job id). From
there on a cancellation or a host timeout only stops the waiting: the job runs
on, is in the journal, and ``get_job`` or ``gptimg result`` finishes it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from gptimg import errors
from gptimg.image_tool import DEFAULT_SIZE, MAX_IMAGES, MAX_WAIT_SECONDS, MIN_IMAGES, SIZES, SUBMIT_TOOL
from gptimg.jobs import pipeline
from gptimg.mcp.consent import Offer, SpendAllowance, obtain_consent
from gptimg.mcp.observer import StoppableObserver
from gptimg.mcp.progress import wait_with_progress
from gptimg.mcp.results import DEFAULT_INLINE_MAX_BYTES, data_result, outcome_result, whole
from gptimg.styles import STYLES

if TYPE_CHECKING:
    from mcp_types import CallToolResult

    from gptimg.cli.session import Session
    from gptimg.gateway import GatewayClient
    from gptimg.jobs.journal import JobJournal, JobRecord
    from gptimg.jobs.pipeline import SubmittedJob
    from gptimg.params import GenerationRequest

#: ``generate_image`` waits this long by default before answering "still running" (the job is kept).
DEFAULT_GENERATE_WAIT = 600.0
#: ``get_job`` holds at most one long-poll: this long by default, never more than the gateway's 50 s.
DEFAULT_GET_JOB_WAIT = 40.0


class PaidSubmits:
    """Submits in flight, so a stopping server can wait until each one's job id is in the journal."""

    def __init__(self) -> None:
        self.count = 0
        self._idle: anyio.Event | None = None

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
            if self.count == 0 and self._idle is not None:
                self._idle.set()

    async def settled(self) -> None:
        while self.count:
            self._idle = anyio.Event()
            await self._idle.wait()


@dataclass
class ServerState:
    """What every tool call of one server process shares: the session, the cap, the default folder."""

    session: Session
    allowance: SpendAllowance
    default_out: Path
    sandbox: bool = False
    inline_max_bytes: int = DEFAULT_INLINE_MAX_BYTES
    paid: PaidSubmits = field(default_factory=PaidSubmits)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _client: GatewayClient | None = None

    def client(self) -> GatewayClient:
        """The one keyed client (one connection pool), built on first use from any worker thread."""
        with self._lock:
            if self._client is None:
                self._client = self.session.client()
            return self._client

    def journal(self) -> JobJournal:
        with self._lock:
            return self.session.journal()

    def secrets(self) -> list[str]:
        return list(self.session.output.secrets)

    def out_dir(self, folder: str | None) -> Path:
        """``output_folder`` (relative ones under the default folder), checked before any spend."""
        from gptimg.cli.jobflow import resolve_out_dir

        path = Path(folder).expanduser() if folder else self.default_out
        return resolve_out_dir(str(path if path.is_absolute() else self.default_out / path))

    def resume_hint(self, job_id: str) -> str:
        hint = f"The job {job_id} is kept: call get_job with this job_id to finish it"
        if self.sandbox:
            return hint + " (the sandbox's jobs last only as long as this server)."
        from gptimg.cli.jobflow import resume_command

        return hint + f", or run: {resume_command(job_id)}"


def _check_wait(value: float | None, default: float, ceiling: float | None, name: str) -> float:
    if value is None:
        return default
    if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
        raise errors.InvalidArguments(f"{name} must be a number of seconds >= 0, not {value!r}.")
    return min(float(value), ceiling) if ceiling is not None else float(value)


def _kept(exc: errors.GptimgError, state: ServerState, job_id: str) -> errors.GptimgError:
    """An error after the submit: name the job and the way back (unless nothing is left to fetch)."""
    exc.details.setdefault("job_id", job_id)
    if not isinstance(exc, (errors.JobFailed, errors.JobNotFound)):
        exc.hint = f"{exc.hint} {state.resume_hint(job_id)}".strip()
    return exc


def _still_running(state: ServerState, job_id: str, exc: errors.JobStillRunning) -> CallToolResult:
    return data_result(
        {
            "job_id": job_id,
            "status": "running",
            "message": exc.message,
            "next": state.resume_hint(job_id),
        },
        state.secrets(),
    )


# --- generate_image ---------------------------------------------------------------------------


@dataclass(frozen=True)
class GenerateArgs:
    prompt: Any
    style: Any = None
    size: Any = None
    n: Any = None
    reference_images: Any = None
    output_folder: str | None = None
    wait_seconds: float | None = None


async def generate_image(state: ServerState, ctx: Any, args: GenerateArgs) -> CallToolResult:
    from gptimg.balance import check_balance
    from gptimg.cli.pricing import read_cost_and_balance
    from gptimg.params import build_request
    from gptimg.references import check_references

    # 1. Offline checks: a mistake here sends nothing and spends nothing.
    request = build_request(
        args.prompt, size=args.size, n=args.n, style=args.style, references=list(args.reference_images or ())
    )
    references = check_references(list(request.references), strict=True)
    out_dir = state.out_dir(args.output_folder)
    timeout = _check_wait(args.wait_seconds, DEFAULT_GENERATE_WAIT, None, "wait_seconds")

    # 2. Free reads, then consent (elicitation or the allowance), reserved against the cap.
    client = await anyio.to_thread.run_sync(state.client)
    cost, balance = await anyio.to_thread.run_sync(read_cost_and_balance, client)
    check_balance(cost, balance)
    offer = Offer(
        prompt=request.prompt,
        style=request.style,
        size=request.size,
        n=request.n,
        references=tuple(ref.original for ref in references),
        cost=cost,
        balance=balance,
        account=state.session.account_label(),
        sandbox=state.sandbox,
    )
    reserved = await obtain_consent(ctx, offer, state.allowance)

    # 3. The paid request, then never lose the job.
    job = await _submit(state, client, request, references, out_dir, reserved)
    extra = {"credits_used": job.credits_used, "cost": whole(cost)}
    if balance is not None and job.credits_used is not None:
        extra["balance_after"] = whole(balance - job.credits_used)
    if state.sandbox:
        extra["sandbox"] = True
    return await _wait_and_save(state, ctx, client, job, out_dir, timeout, request.prompt, extra)


async def _submit(
    state: ServerState,
    client: GatewayClient,
    request: GenerationRequest,
    references: list[Any],
    out_dir: Path,
    reserved: float,
) -> SubmittedJob:
    """Upload the references (free), then submit once; the reservation follows what the gateway did."""
    from gptimg.references import upload_references

    heard: list[SubmittedJob] = []  # filled the moment the gateway answered with a job id
    sent = False
    try:
        reference_field = None
        if references:
            reference_field = await anyio.to_thread.run_sync(upload_references, references, client.upload)
        # From the send until the job id is in the journal: neither a cancelled call nor a stopping server
        # interrupts this (a signal waits for ``paid.settled()``).
        with anyio.CancelScope(shield=True):
            async with state.paid.track():
                sent = True
                job = await anyio.to_thread.run_sync(
                    lambda: pipeline.submit_job(
                        client,
                        state.journal(),
                        request,
                        reference_field=reference_field,
                        account=state.session.account_label(),
                        out_dir=out_dir,
                        on_submitted=heard.append,
                    )
                )
    except BaseException as exc:
        _account_for_failed_submit(state, reserved, sent, heard, exc)
        if heard and isinstance(exc, errors.GptimgError):
            raise _kept(exc, state, heard[0].job_id) from None
        raise
    state.allowance.settle(reserved, job.credits_used)
    return job


def _account_for_failed_submit(
    state: ServerState, reserved: float, sent: bool, heard: list[SubmittedJob], exc: BaseException
) -> None:
    """Give the reservation back only when the credits were certainly not spent."""
    if heard:  # the gateway took it (a later step failed): spent
        state.allowance.settle(reserved, heard[0].credits_used)
    elif not sent or (isinstance(exc, errors.GptimgError) and not isinstance(exc, errors.SubmitOutcomeUnknown)):
        state.allowance.release(reserved)  # never sent, or refused by the gateway: not charged
    # otherwise the outcome is unknown: it may have been charged, so the reservation stays


async def _wait_and_save(
    state: ServerState,
    ctx: Any,
    client: GatewayClient,
    job: SubmittedJob,
    out_dir: Path,
    timeout: float,
    label: str,
    extra: dict[str, Any],
) -> CallToolResult:
    observer = StoppableObserver()

    def finish() -> Any:
        return pipeline.finish_job(
            client,
            state.journal(),
            job.job_id,
            out_dir=out_dir,
            timeout=timeout,
            observer=observer,
            label=label,
            estimated=job.estimated_seconds,
            started=job.submitted_at,
        )

    try:
        outcome = await wait_with_progress(ctx, finish, observer, job.job_id, job.estimated_seconds, job.submitted_at)
    except errors.JobStillRunning as exc:
        return _still_running(state, job.job_id, exc)
    except errors.GptimgError as exc:
        raise _kept(exc, state, job.job_id) from None
    return outcome_result(outcome, extra=extra, inline_max_bytes=state.inline_max_bytes, secrets=state.secrets())


# --- get_job, list_jobs, list_styles, account (all free) --------------------------------------


async def get_job(
    state: ServerState, ctx: Any, job_id: str, output_folder: str | None, wait_seconds: float | None
) -> CallToolResult:
    import time

    from gptimg.jobs.pipeline import usable_job_id

    if not isinstance(job_id, str) or not usable_job_id(job_id.strip()):
        raise errors.InvalidArguments(
            "job_id must be a job id as generate_image or list_jobs gave it.", hint="Call list_jobs to see them."
        )
    job_id = job_id.strip()
    wait = _check_wait(wait_seconds, DEFAULT_GET_JOB_WAIT, float(MAX_WAIT_SECONDS), "wait_seconds")
    record = await anyio.to_thread.run_sync(state.journal().get, job_id)
    folder = output_folder or (record.out_dir if record and record.out_dir else None)
    out_dir = state.out_dir(folder)
    client = await anyio.to_thread.run_sync(state.client)
    observer = StoppableObserver()
    estimated = record.estimated_seconds if record and record.estimated_seconds else None
    label = (record.name or record.prompt) if record else None

    def finish() -> Any:
        return pipeline.finish_job(
            client, state.journal(), job_id, out_dir=out_dir, timeout=wait, observer=observer, label=label
        )

    try:
        outcome = await wait_with_progress(ctx, finish, observer, job_id, estimated, time.monotonic())
    except errors.JobStillRunning as exc:
        return _still_running(state, job_id, exc)
    extra = {"credits_used": outcome.credits_used}
    return outcome_result(outcome, extra=extra, inline_max_bytes=state.inline_max_bytes, secrets=state.secrets())


JOB_FIELDS = ("job_id", "status", "created_at", "prompt", "style", "size", "n", "credits_used", "files", "out_dir")


def job_summary(record: JobRecord) -> dict[str, Any]:
    data = {name: getattr(record, name) for name in JOB_FIELDS}
    data["credits_used"] = whole(data["credits_used"])
    if record.error:
        data["error"] = record.error
    return data


async def list_jobs(state: ServerState, limit: int | None) -> CallToolResult:
    count = 20 if limit is None else limit
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 200:
        raise errors.InvalidArguments(f"limit must be a whole number from 1 to 200, not {limit!r}.")
    records = await anyio.to_thread.run_sync(state.journal().recent, count)
    jobs = [job_summary(record) for record in records]
    note = "Newest first. Jobs not 'done' can be finished (free) with get_job; 'unknown' ones may have been charged."
    return data_result({"jobs": jobs, "count": len(jobs), "note": note}, state.secrets())


async def list_styles(state: ServerState) -> CallToolResult:
    data = {
        "styles": [{"key": key, "description": text} for key, text in STYLES.items()],
        "sizes": list(SIZES),
        "default_size": DEFAULT_SIZE,
        "images_per_job": {"min": MIN_IMAGES, "max": MAX_IMAGES},
        "tool": SUBMIT_TOOL,
    }
    return data_result(data, state.secrets())


async def account(state: ServerState) -> CallToolResult:
    from gptimg.cli.pricing import read_cost_and_balance

    client = await anyio.to_thread.run_sync(state.client)
    cost, balance = await anyio.to_thread.run_sync(read_cost_and_balance, client)
    remaining = state.allowance.remaining()
    data: dict[str, Any] = {
        "account": state.session.account_label(),
        "gateway": client.base_url,
        "balance": whole(balance),
        "price_per_submit": whole(cost),
        "spent_this_session": whole(state.allowance.spent),
        "allowance_left": whole(remaining),
        "default_output_folder": str(state.default_out),
    }
    if state.sandbox:
        data["sandbox"] = True
    return data_result(data, state.secrets())
