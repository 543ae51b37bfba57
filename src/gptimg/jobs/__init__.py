"""Jobs: the journal of paid submits, and submit -> long-poll -> download.

The names below load on first use (PEP 562), so importing one submodule, such as
``gptimg.jobs.signals`` at every start of the CLI, does not load the pipeline too.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gptimg.jobs.journal import JobJournal, JobRecord
    from gptimg.jobs.pipeline import (
        JobObserver,
        JobOutcome,
        SilentObserver,
        SubmittedJob,
        await_job,
        finish_job,
        save_job,
        submit_job,
        wait_for_job,
    )

_HOME = {
    "JobJournal": "journal",
    "JobRecord": "journal",
    "JobObserver": "pipeline",
    "JobOutcome": "pipeline",
    "SilentObserver": "pipeline",
    "SubmittedJob": "pipeline",
    "await_job": "pipeline",
    "finish_job": "pipeline",
    "save_job": "pipeline",
    "submit_job": "pipeline",
    "wait_for_job": "pipeline",
}

__all__ = [
    "JobJournal",
    "JobObserver",
    "JobOutcome",
    "JobRecord",
    "SilentObserver",
    "SubmittedJob",
    "await_job",
    "finish_job",
    "save_job",
    "submit_job",
    "wait_for_job",
]


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # once: later lookups (and monkeypatch) see a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
