"""Waiting for a job in a worker thread while MCP progress notifications tell the client how long.

The pipeline's long-poll blocks for up to 50 s at a time, so progress cannot
come from its answers alone: a ticker reports the elapsed and estimated time
every few seconds meanwhile (many hosts also keep a call alive while progress
arrives). A cancelled call abandons the thread and tells it to stop after the
poll in flight; the job itself is untouched.
"""

from __future__ import annotations

import time
from typing import Any, Callable, TypeVar

import anyio

from gptimg.image_tool import DEFAULT_ESTIMATED_SECONDS
from gptimg.mcp.observer import StoppableObserver

T = TypeVar("T")

#: Seconds between two progress notifications while a job runs.
PROGRESS_INTERVAL = 2.0


def progress_message(job_id: str, elapsed: float, estimated: float) -> str:
    if elapsed < estimated:
        return f"Job {job_id}: {elapsed:.0f} s elapsed of about {estimated:.0f} s."
    return f"Job {job_id}: {elapsed:.0f} s elapsed (estimated {estimated:.0f} s); still waiting."


async def _tick(ctx: Any, job_id: str, estimated: float, started: float) -> None:
    """Report until cancelled; a client that went away ends the reports, never the wait."""
    while True:
        elapsed = max(0.0, time.monotonic() - started)
        total = estimated if elapsed < estimated else None
        try:
            await ctx.report_progress(elapsed, total, progress_message(job_id, elapsed, estimated))
        except Exception:
            return
        await anyio.sleep(PROGRESS_INTERVAL)


async def wait_with_progress(
    ctx: Any,
    blocking: Callable[[], T],
    observer: StoppableObserver,
    job_id: str,
    estimated: float | None,
    started: float,
) -> T:
    """Run ``blocking`` (the pipeline's finish) in a thread, reporting progress until it returns."""
    estimate = float(estimated or DEFAULT_ESTIMATED_SECONDS)
    failure: Exception | None = None
    async with anyio.create_task_group() as group:
        group.start_soon(_tick, ctx, job_id, estimate, started)
        try:
            outcome = await anyio.to_thread.run_sync(blocking, abandon_on_cancel=True)
        except Exception as exc:  # raised below, outside the group, so it is not wrapped in an ExceptionGroup
            failure = exc
        finally:
            observer.stop.set()
            group.cancel_scope.cancel()
    if failure is not None:
        raise failure
    return outcome
