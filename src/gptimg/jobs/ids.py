"""Which job ids gptimg accepts from a gateway: shared by the pipeline and the agent CLI's journal."""

from __future__ import annotations

#: Longest job id taken from a gateway (real ones are 12 hex digits).
MAX_JOB_ID = 128


def usable_job_id(job_id: object) -> bool:
    """Printable, single-line and short: safe to show, to store and to put in a command line."""
    return (
        isinstance(job_id, str)
        and 0 < len(job_id) <= MAX_JOB_ID
        and job_id.isprintable()
        and not any(c.isspace() for c in job_id)
    )
