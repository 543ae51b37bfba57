"""Jobs: the journal of paid submits, and submit -> long-poll -> download."""

from __future__ import annotations

from gptimg.jobs.journal import JobJournal, JobRecord
from gptimg.jobs.pipeline import (
    JobObserver,
    JobOutcome,
    SilentObserver,
    SubmittedJob,
    finish_job,
    submit_job,
    wait_for_job,
)

__all__ = [
    "JobJournal",
    "JobObserver",
    "JobOutcome",
    "JobRecord",
    "SilentObserver",
    "SubmittedJob",
    "finish_job",
    "submit_job",
    "wait_for_job",
]
