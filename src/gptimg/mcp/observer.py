"""How an MCP call stops waiting for a job without stopping the job.

The server writes no job-state logic of its own: it calls the shared pipeline's
``submit_job`` and ``finish_job`` (``gptimg.jobs.pipeline``) exactly as ``generate``
and ``result`` do, in worker threads (both block on httpx and SQLite). What is
its own is this observer: a cancelled or timed-out call sets ``stop``, and the
worker's wait ends at the next poll answer, leaving the paid job in the journal.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from gptimg.jobs.pipeline import SubmittedJob

if TYPE_CHECKING:
    from gptimg.jobs.download import SavedImage


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

