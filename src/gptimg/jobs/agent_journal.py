"""The agent CLI's journal writes: the rows ``JobJournal`` writes, at a fraction of its import cost.

``bin/uno.py`` is a new process per call, and importing ``jobs.journal`` (with
``dataclasses``, ``inspect`` and ``datetime``) costs ~40 ms, four times the budget
for journaling a submit. This module writes the same columns of the same table
with ``sqlite3`` alone: a row (``submitting``) before the request leaves, the job
id the moment the answer arrives. The schema stays ``JobJournal``'s: when the file
or its ``jobs`` table does not exist yet, ``JobJournal`` creates and migrates it
(once per machine), so there is still one schema and one list of migrations.
Only columns of ``m001_jobs`` are written; later migrations only add columns.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Callable

from gptimg.home import data_dir

#: The same file and the same state names as ``gptimg.jobs.journal`` (a test holds them equal).
JOURNAL_FILENAME = "journal.sqlite3"
SUBMITTING = "submitting"
SUBMITTED = "submitted"
UNKNOWN = "unknown"
REJECTED = "rejected"


def _now() -> str:
    """``JobJournal``'s timestamp format (UTC, milliseconds, ``Z``) without importing datetime."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


class AgentJournal:
    """One connection for one submit; every write is its own committed transaction."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / JOURNAL_FILENAME
        self._db = self._connect()
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='jobs'").fetchone() is None:
            self._db.close()
            from gptimg.jobs.journal import JobJournal  # first use on this machine: create and migrate

            JobJournal(self.path).close()
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Opened on a helper thread while the request is prepared, then written from the main one.
        db = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA busy_timeout=30000")
        db.execute("PRAGMA synchronous=FULL")  # a row must survive a crash the instant it is written
        return db

    def close(self) -> None:
        self._db.close()

    def record_submit(self, *, gateway: str, arguments: dict[str, Any], account: str | None) -> int:
        """Before the submit is sent: the row the job id will be written into."""
        now = _now()
        refs = arguments.get("reference_image_urls")
        n = arguments.get("n")
        cursor = self._db.execute(
            "INSERT INTO jobs (created_at, updated_at, status, gateway, account, prompt, style, size, n,"
            " reference_urls) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                now,
                now,
                SUBMITTING,
                gateway,
                account,
                str(arguments.get("prompt") or ""),
                _text_or_none(arguments.get("style")),
                _text_or_none(arguments.get("size")),
                n if isinstance(n, int) and not isinstance(n, bool) else None,
                refs if isinstance(refs, str) else (",".join(refs) if isinstance(refs, list) else None),
            ),
        )
        return int(cursor.lastrowid or 0)

    def record_job_id(self, row_id: int, job_id: str, *, estimated_seconds: Any, credits_used: Any) -> None:
        self._update(
            row_id,
            status=SUBMITTED,
            job_id=job_id,
            estimated_seconds=estimated_seconds if _is_number(estimated_seconds) else None,
            credits_used=credits_used if _is_number(credits_used) else None,
        )

    def mark_unknown(self, row_id: int, reason: str) -> None:
        self._update(row_id, status=UNKNOWN, error=reason)

    def mark_rejected(self, row_id: int, reason: str) -> None:
        self._update(row_id, status=REJECTED, error=reason)

    def _update(self, row_id: int, **changes: Any) -> None:
        changes["updated_at"] = _now()
        assignments = ", ".join(f"{column} = ?" for column in changes)
        self._db.execute(f"UPDATE jobs SET {assignments} WHERE id = ?", (*changes.values(), row_id))  # noqa: S608


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def journal_hint() -> str:
    """Where the journal lives, for an error that says it could not be written."""
    return os.environ.get("GPTIMG_HOME") or str(data_dir())


def open_in_background(path: Path | None = None) -> Callable[[], AgentJournal]:
    """Start opening the journal now; the returned function waits for it (or raises its error).

    Importing sqlite3 and opening the file take longer than the two writes; done while the
    credentials are read and references uploaded, they no longer add to the call.
    """
    box: list[Any] = []

    def open_journal() -> None:
        try:
            box.append(AgentJournal(path))
        except BaseException as exc:  # handed to the waiting thread
            box.append(exc)

    opener = threading.Thread(target=open_journal, name="gptimg-journal", daemon=True)
    opener.start()

    def wait() -> AgentJournal:
        opener.join()
        if isinstance(box[0], BaseException):
            raise box[0]
        return box[0]

    return wait
