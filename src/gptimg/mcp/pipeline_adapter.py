"""The MCP server's only door to the shared job pipeline (``gptimg.jobs.pipeline``).

The server writes no job-state logic of its own: submitting, polling, journalling
and saving are the pipeline's, exactly as for ``generate`` and ``result``. These
two functions are the whole surface it uses, so a change to the pipeline's API is
absorbed here and nowhere else. Both block (httpx, SQLite); the tools run them in
worker threads.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from gptimg.jobs.pipeline import JobOutcome, SubmittedJob, finish_job, submit_job

if TYPE_CHECKING:
    from gptimg.gateway import GatewayClient
    from gptimg.jobs.download import SavedImage
    from gptimg.jobs.journal import JobJournal
    from gptimg.params import GenerationRequest


class WaitAbandoned(Exception):
    """Raised inside the worker thread once nobody waits for the job any more (the call was cancelled)."""


class StoppableObserver:
    """A pipeline observer whose wait ends at the next poll answer once ``stop`` is set.

    The pipeline's long-poll loop reports every answer here, so a cancelled tool call
    stops polling after at most the poll already in flight; the job itself keeps
    running on the gateway and stays in the journal. A download already under way is
    let finish (``saved`` never raises): a half-saved job would only be fetched again.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()

    def submitted(self, job: SubmittedJob) -> None:
        pass

    def status(self, job_id: str, status: str, elapsed: float, estimated: float) -> None:
        if self.stop.is_set():
            raise WaitAbandoned(job_id)

    def saved(self, image: SavedImage) -> None:
        pass


def submit_once(
    client: GatewayClient,
    journal: JobJournal,
    request: GenerationRequest,
    *,
    reference_field: str | None,
    account: str | None,
    out_dir: Path,
    on_submitted: Callable[[SubmittedJob], None],
) -> SubmittedJob:
    """The one paid request: journal row first, then the submit, never retried.

    ``on_submitted`` hears of the job the moment the gateway answered with its id,
    even when something fails afterwards (e.g. the journal), so the caller knows
    the credits were spent whatever is raised next.
    """
    return submit_job(
        client,
        journal,
        request,
        reference_field=reference_field,
        account=account,
        out_dir=out_dir,
        on_submitted=on_submitted,
    )


def finish(
    client: GatewayClient,
    journal: JobJournal,
    job_id: str,
    *,
    out_dir: Path,
    timeout: float,
    observer: StoppableObserver,
    label: str | None = None,
    estimated: float | None = None,
    started: float | None = None,
) -> JobOutcome:
    """Poll (free) for at most ``timeout`` seconds, then save; ``JobStillRunning`` when time is up."""
    return finish_job(
        client,
        journal,
        job_id,
        out_dir=out_dir,
        timeout=timeout,
        observer=observer,
        label=label,
        estimated=estimated,
        started=started,
    )
