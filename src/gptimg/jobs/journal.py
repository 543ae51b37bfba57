"""The job journal: a SQLite record of every paid submit, written before the money moves.

A row is inserted (``submitting``) before the submit request leaves, gets its job
id the moment the gateway answers (``submitted``), then becomes ``running``,
``done`` (with URLs and saved files), ``error``, ``unknown`` (the submit may have
been charged but no job id came back) or ``rejected`` (the gateway refused it,
nothing charged). ``gptimg jobs`` is a query over this table; ``gptimg result``
and ``gptimg batch`` resume from it.

The schema evolves through numbered migrations, each applied once and recorded;
a released migration is never edited, a change is a new one. The API key is
never written here.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from gptimg.errors import LineAlreadySubmitted
from gptimg.home import data_dir

JOURNAL_FILENAME = "journal.sqlite3"

SUBMITTING = "submitting"
SUBMITTED = "submitted"
RUNNING = "running"
DONE = "done"
ERROR = "error"
UNKNOWN = "unknown"
REJECTED = "rejected"
#: States in which the gateway holds a job we paid for and have not finished fetching.
OPEN_STATES = (SUBMITTED, RUNNING)

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[tuple[str, Migration]] = []


def migration(fn: Migration) -> Migration:
    MIGRATIONS.append((fn.__name__, fn))
    return fn


@migration
def m001_jobs(db: sqlite3.Connection) -> None:
    # One row per submit attempt. job_id stays NULL until the gateway answers, which is
    # exactly the window the journal exists for.
    db.execute(
        """
        CREATE TABLE jobs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            status TEXT NOT NULL,
            job_id TEXT UNIQUE,
            gateway TEXT NOT NULL,
            account TEXT,
            prompt TEXT NOT NULL,
            style TEXT,
            size TEXT,
            n INTEGER,
            reference_urls TEXT,
            estimated_seconds INTEGER,
            credits_used REAL,
            items TEXT,
            files TEXT,
            out_dir TEXT,
            error TEXT
        )
        """
    )
    db.execute("CREATE INDEX jobs_created_at ON jobs (created_at)")


@migration
def m002_batch_lines(db: sqlite3.Connection) -> None:
    # Batch lines need a stable key so a re-run finds what it already paid for,
    # and an optional file-name stem from the manifest's ``name``.
    db.execute("ALTER TABLE jobs ADD COLUMN batch_key TEXT")
    db.execute("ALTER TABLE jobs ADD COLUMN name TEXT")
    db.execute("CREATE INDEX jobs_batch_key ON jobs (batch_key)")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRecord:
        values = dict(row)
        values["items"] = json.loads(values["items"]) if values.get("items") else []
        values["files"] = json.loads(values["files"]) if values.get("files") else []
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobJournal:
    """The journal file, safe to share between the threads of one process and between processes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else data_dir() / JOURNAL_FILENAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        #: Rows this handle wrote as ``submitting`` and has not resolved: only these may be abandoned.
        self._open_submits: set[int] = set()
        self._db = sqlite3.connect(str(self.path), timeout=30, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # A row must survive a crash the instant it is written: that is the whole point.
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=30000")
        self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> JobJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _migrate(self) -> None:
        with self._transaction() as db:
            db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
            applied = {row[0] for row in db.execute("SELECT name FROM _migrations")}
            for name, fn in MIGRATIONS:
                if name not in applied:
                    fn(db)
                    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?, ?)", (name, _now()))

    # --- writes, in the order a job lives them -----------------------------------------

    def record_submit(
        self,
        *,
        gateway: str,
        prompt: str,
        style: str | None,
        size: str | None,
        n: int | None,
        account: str | None = None,
        reference_urls: str | None = None,
        out_dir: str | None = None,
        batch_key: str | None = None,
        name: str | None = None,
        conflicts: Callable[[JobRecord], bool] | None = None,
    ) -> int:
        """Before the submit is sent: returns the row id to attach the job id to.

        With ``conflicts``, a batch line is claimed atomically: if any row under the same
        ``batch_key`` matches it (another process got there first), nothing is written and
        ``LineAlreadySubmitted`` is raised. The check and the insert share one write lock,
        so two processes running one manifest can never both pay for a line.
        """
        now = _now()
        with self._transaction() as db:
            if batch_key is not None and conflicts is not None:
                rows = db.execute("SELECT * FROM jobs WHERE batch_key = ?", (batch_key,)).fetchall()
                if any(conflicts(JobRecord.from_row(row)) for row in rows):
                    raise LineAlreadySubmitted(f"Batch line {batch_key!r} was submitted by another run.")
            cursor = db.execute(
                "INSERT INTO jobs (created_at, updated_at, status, gateway, account, prompt, style, size, n,"
                " reference_urls, out_dir, batch_key, name) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (now, now, SUBMITTING, gateway, account, prompt, style, size, n, reference_urls, out_dir,
                 batch_key, name),
            )
            row_id = int(cursor.lastrowid or 0)
        self._open_submits.add(row_id)
        return row_id

    def record_job_id(
        self, row_id: int, job_id: str, *, estimated_seconds: int | None, credits_used: float | None
    ) -> None:
        """The moment the gateway answers the submit."""
        self._update_row(
            row_id,
            status=SUBMITTED,
            job_id=job_id,
            estimated_seconds=estimated_seconds,
            credits_used=credits_used,
        )

    def idempotency_key(self, row_id: int) -> str:
        """A key only this row's submit can carry: the same on every retry of it, new for any other row.

        Derived from the journal file, the row id and its creation time, so a recreated journal
        (row ids start again) never repeats an old key.
        """
        import hashlib

        with self._lock:
            row = self._db.execute("SELECT created_at FROM jobs WHERE id = ?", (row_id,)).fetchone()
        seed = f"{self.path.resolve()}|{row_id}|{row[0] if row else ''}"
        return "gptimg-" + hashlib.sha256(seed.encode("utf-8")).hexdigest()[:32]

    def mark_unknown(self, row_id: int, reason: str) -> None:
        self._update_row(row_id, status=UNKNOWN, error=reason)

    def mark_rejected(self, row_id: int, reason: str) -> None:
        self._update_row(row_id, status=REJECTED, error=reason)

    def mark_running(self, job_id: str) -> None:
        self._update_job(job_id, status=RUNNING, only_if_open=True)

    def mark_done(self, job_id: str, items: list[dict[str, Any]], files: list[str] | None = None) -> None:
        changes: dict[str, Any] = {"status": DONE, "items": json.dumps(items), "error": None}
        if files is not None:
            changes["files"] = json.dumps(files)
        self._update_job(job_id, **changes)

    def mark_error(self, job_id: str, message: str) -> None:
        self._update_job(job_id, status=ERROR, error=message)

    def note_problem(self, job_id: str, message: str) -> None:
        """A fetch problem (download, disk) that leaves the job as it was."""
        self._update_job(job_id, error=message)

    def ensure_job(self, job_id: str, *, gateway: str, out_dir: str | None = None) -> JobRecord:
        """The row for ``job_id``; one is created for a job submitted elsewhere (``gptimg result``)."""
        record = self.get(job_id)
        if record is not None:
            return record
        now = _now()
        with self._transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO jobs (created_at, updated_at, status, job_id, gateway, prompt, out_dir)"
                " VALUES (?,?,?,?,?,?,?)",
                (now, now, RUNNING, job_id, gateway, "", out_dir),
            )
        record = self.get(job_id)
        assert record is not None
        return record

    def abandon_submitting(self, reason: str) -> int:
        """This handle's rows still ``submitting`` when it gives up: their outcome is unknown now.

        Rows of other processes are left alone: their submits may still be answered.
        """
        rows = sorted(self._open_submits)
        if not rows:
            return 0
        with self._transaction() as db:
            cursor = db.execute(
                f"UPDATE jobs SET status=?, error=?, updated_at=? WHERE status=? AND id IN ({','.join('?' * len(rows))})",  # noqa: S608
                (UNKNOWN, reason, _now(), SUBMITTING, *rows),
            )
        self._open_submits.clear()
        return cursor.rowcount

    def _update_row(self, row_id: int, **changes: Any) -> None:
        self._update("id = ?", (row_id,), changes)
        self._open_submits.discard(row_id)

    def _update_job(self, job_id: str, *, only_if_open: bool = False, **changes: Any) -> None:
        where = "job_id = ?"
        if only_if_open:
            where += f" AND status IN ({','.join('?' * len(OPEN_STATES))})"
            self._update(where, (job_id, *OPEN_STATES), changes)
        else:
            self._update(where, (job_id,), changes)

    def _update(self, where: str, params: tuple[Any, ...], changes: dict[str, Any]) -> None:
        changes["updated_at"] = _now()
        assignments = ", ".join(f"{column} = ?" for column in changes)
        with self._transaction() as db:
            db.execute(f"UPDATE jobs SET {assignments} WHERE {where}", (*changes.values(), *params))  # noqa: S608

    # --- reads --------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return JobRecord.from_row(row) if row else None

    def get_row(self, row_id: int) -> JobRecord | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id = ?", (row_id,)).fetchone()
        return JobRecord.from_row(row) if row else None

    def recent(self, limit: int = 20) -> list[JobRecord]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [JobRecord.from_row(row) for row in rows]

    def for_batch_key(self, batch_key: str) -> list[JobRecord]:
        """Every submit made for one batch line, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT * FROM jobs WHERE batch_key = ? ORDER BY id", (batch_key,)
            ).fetchall()
        return [JobRecord.from_row(row) for row in rows]
