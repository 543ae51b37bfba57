"""A journal row as the rest of gptimg sees it, the job states, and how journal failures are told.

Kept apart from ``journal.py`` (the SQLite side) so the file that owns the
connection stays small; ``journal`` re-exports every name here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gptimg.errors import JournalUnavailable

SUBMITTING = "submitting"
SUBMITTED = "submitted"
RUNNING = "running"
DONE = "done"
ERROR = "error"
UNKNOWN = "unknown"
REJECTED = "rejected"
#: ``error_code`` of a job that ended in the gateway's own ``error`` status (the model failed it).
GATEWAY_FAILED = "generation_failed"
#: ``error_code`` of a job the gateway did not know when asked (restarted, expired, or a passing fault).
JOB_NOT_FOUND = "job_not_found"
#: States in which the gateway holds a job we paid for and have not finished fetching.
OPEN_STATES = (SUBMITTED, RUNNING)

#: A write waits this long for another process's lock before the journal counts as unavailable.
BUSY_TIMEOUT_SECONDS = 30.0
#: Before a spend, the journal must be writable within this long (else nothing is sent).
READY_WAIT_SECONDS = 2.0
#: A row still ``submitting`` this long after it was written belongs to a process that stopped mid-submit.
STALE_SUBMIT_SECONDS = 180.0
STALE_SUBMIT_NOTE = (
    "gptimg stopped while this submit was in flight: it may have been charged, and no job id came back. "
    "Check your balance before submitting it again."
)

#: (second, its ``YYYY-MM-DDTHH:MM:SS`` text): formatted once a second, not once a journal write.
_second_text: tuple[int, str] = (-1, "")


def _now() -> str:
    """UTC now as ``2026-01-02T03:04:05.678Z`` (milliseconds truncated, as ``isoformat`` does).

    Every journal write stamps a row; building a ``datetime`` and its ISO text each time
    was 1.4 % of a batch's CPU (py-spy). One global tuple: a reader never pairs one
    second with another's text.
    """
    global _second_text
    milliseconds = time.time_ns() // 1_000_000
    second, milli = divmod(milliseconds, 1000)
    cached, text = _second_text
    if cached != second:
        text = datetime.fromtimestamp(second, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        _second_text = (second, text)
    return f"{text}.{milli:03d}Z"


@dataclass
class JobRecord:
    """One journal row, decoded."""

    id: int
    created_at: str
    updated_at: str
    status: str
    job_id: str | None
    gateway: str
    account: str | None
    prompt: str
    style: str | None
    size: str | None
    n: int | None
    reference_urls: str | None
    estimated_seconds: int | None
    credits_used: float | None
    items: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    out_dir: str | None = None
    error: str | None = None
    batch_key: str | None = None
    name: str | None = None
    error_code: str | None = None
    #: True when the gateway identified itself as a sandbox (test credits); None when not known.
    sandbox: bool | None = None
    #: The file name or pattern ``-o`` asked for (None: automatic names in ``out_dir``).
    out_target: str | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        # Columns a newer gptimg added are ignored, so an older one can still list the journal.
        values = {key: row[key] for key in row.keys() if key in _FIELDS}
        values["items"] = json.loads(values["items"]) if values.get("items") else []
        values["files"] = json.loads(values["files"]) if values.get("files") else []
        if values.get("sandbox") is not None:
            values["sandbox"] = bool(values["sandbox"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def failed_on_gateway(self) -> bool:
        """In ``error`` because the gateway said so for this job (not because it did not know the job)."""
        if self.status != ERROR:
            return False
        if self.error_code is not None:
            return self.error_code == GATEWAY_FAILED
        # Rows from before m003: a job the gateway did not know was written with this message.
        return not (self.error or "").startswith("The gateway does not know job")

    def as_listed(self, now: datetime) -> JobRecord:
        """The row as ``gptimg jobs`` shows it: a ``submitting`` a stopped process left behind is ``unknown``."""
        if self.status != SUBMITTING:
            return self
        written = _parse_stamp(self.created_at)
        if written is None or (now - written).total_seconds() < STALE_SUBMIT_SECONDS:
            return self
        return replace(self, status=UNKNOWN, error=self.error or STALE_SUBMIT_NOTE)

    @classmethod
    def from_fallback(cls, entry: dict[str, Any], where: Path) -> JobRecord:
        """An id the journal could not take (see ``jobs/fallback.py``), shown like a row (``id`` 0)."""

        def text(key: str) -> str | None:
            value = entry.get(key)
            return value if isinstance(value, str) else None

        stamp = text("at") or _now()
        return cls(
            id=0, created_at=stamp, updated_at=stamp, status=SUBMITTED, job_id=entry["job_id"],
            gateway=text("gateway") or "", account=text("account"), prompt=text("prompt") or "",
            style=text("style"), size=text("size"), n=None, reference_urls=None, estimated_seconds=None,
            credits_used=None, out_dir=text("out_dir"), batch_key=text("batch_key"), name=text("name"),
            error=f"kept in {where} (the journal could not take it); fetch it: gptimg result {entry['job_id']}",
        )


_FIELDS = frozenset(JobRecord.__dataclass_fields__)


def _parse_stamp(stamp: str) -> datetime | None:
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None


def _failure(path: Path, exc: BaseException) -> JournalUnavailable:
    """One line naming the file and what to do, for any SQLite or file-system error."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        what, hint = "is locked by another program", "Let the other gptimg (or SQLite tool) finish, then try again."
    elif any(word in text for word in ("readonly", "read-only", "permission", "unable to open")):
        what, hint = "cannot be written (read-only?)", "Make it and its folder writable, or set GPTIMG_HOME elsewhere."
    elif "full" in text or "disk i/o" in text or "no space" in text:
        what, hint = "cannot be written (disk full?)", "Free some space on that disk, then try again."
    elif "not a database" in text or "malformed" in text or "corrupt" in text:
        what, hint = "is damaged", "Move it aside (it holds your job history) and run again: a new one is made."
    else:
        what, hint = f"cannot be used ({exc})", "Check the file, or set GPTIMG_HOME to another folder."
    return JournalUnavailable(f"The job journal {path} {what}.", hint=hint, details={"journal": str(path)})


def _newer_schema(path: Path, unknown: list[str]) -> JournalUnavailable:
    return JournalUnavailable(
        f"The job journal {path} was written by a newer gptimg (migration {', '.join(sorted(unknown))}).",
        hint="Upgrade gptimg (pip install -U gptimg), or set GPTIMG_HOME to another folder.",
        details={"journal": str(path)},
    )
