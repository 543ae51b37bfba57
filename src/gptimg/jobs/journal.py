"""The job journal: a SQLite record of every paid submit, written before the money moves.

A row is inserted (``submitting``) before the submit request leaves, gets its job
id the moment the gateway answers (``submitted``), then becomes ``running``,
``done`` (with URLs and saved files), ``error``, ``unknown`` (the submit may have
been charged but no job id came back) or ``rejected`` (the gateway refused it,
nothing charged). ``gptimg jobs`` is a query over this table; ``gptimg result``
and ``gptimg batch`` resume from it.

The schema evolves through numbered migrations (``jobs/schema.py``). The API key
is never written here.
"""

from __future__ import annotations

import json
import sqlite3
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from gptimg.errors import JournalUnavailable, LineAlreadySubmitted
from gptimg.home import data_dir
from gptimg.jobs import fallback, hot_sql
from gptimg.jobs.group_commit import GroupCommit, Then
from gptimg.jobs.read_pool import ReadPool
from gptimg.jobs.record import (  # noqa: F401  (re-exported: the journal's vocabulary)
    BUSY_TIMEOUT_SECONDS,
    DONE,
    ERROR,
    GATEWAY_FAILED,
    OPEN_STATES,
    READY_WAIT_SECONDS,
    REJECTED,
    RUNNING,
    STALE_SUBMIT_NOTE,
    STALE_SUBMIT_SECONDS,
    SUBMITTED,
    SUBMITTING,
    UNKNOWN,
    JobRecord,
    _failure,
    _newer_schema,
    _now,
)
from gptimg.jobs.schema import migrate

#: Keys per ``IN (...)`` query: under SQLite's oldest limit of 999 bound parameters.
BATCH_KEYS_PER_QUERY = 500
#: The columns of ``plan_rows``, in this order.
PLAN_COLUMNS = "batch_key, id, status, job_id, gateway, prompt, style, size, n, files"
JOURNAL_FILENAME = "journal.sqlite3"

#: The write connection's page cache, in KiB (SQLite's default is 2,000). The cache fills up to
#: its size as the file grows, so with the default a batch's memory grew with the journal it
#: wrote (SQLite held 1.0 MiB after 500 lines, 2.7 MiB after 5,000; 0.85 MiB for both at 256).
#: A miss costs one ``pread`` from the OS's cache: +0.5 a line at 5,000 lines (strace -c).
WRITER_CACHE_KIB = 256

#: Opening a fresh journal races other processes creating it; the set-up is retried this long.
OPEN_RETRY_SECONDS = 5.0
#: Rows a handle keeps as it wrote them (``JobJournal._written``), and for how long they stand for a read.
WRITTEN_KEPT = 1024
WRITTEN_FRESH_SECONDS = 60.0


class JobJournal:
    """The journal file, safe to share between the threads of one process and between processes.

    Writes from many threads share one transaction and one fsync (``jobs/group_commit.py``);
    reads use connections of their own (``jobs/read_pool.py``), so they never wait for a
    commit. Every SQLite or file-system failure comes out as ``JournalUnavailable`` (one line
    naming the file and what to do), never as a traceback. ``reading=True`` (``jobs``,
    ``result``) accepts a journal from a newer gptimg, which the writers refuse.
    """

    def __init__(self, path: Path | None = None, *, reading: bool = False) -> None:
        self.path = Path(path) if path is not None else data_dir() / JOURNAL_FILENAME
        #: Rows this handle wrote as ``submitting`` and has not resolved (only these may be abandoned),
        #: with their ``created_at``, from which their idempotency key is made without a read.
        self._open_submits: dict[int, str] = {}
        #: Rows this handle just wrote, as a read would give them (when written, row): ``record_submit``'s
        #: by row id, then ``record_job_id``'s by job id, for the ``ensure_job`` that follows (a batch
        #: polls every job it submits): one read an image fewer. Each is used once, while fresh.
        self._written: dict[Any, tuple[float, JobRecord]] = {}
        self._resolved_path: str | None = None
        #: The journal's folder as text, where the job locks live (``jobs/lock.py``): made once, not per image.
        self.folder = str(self.path.parent)
        #: Migrations in the file that this gptimg does not know (a newer one wrote it).
        self.unknown_migrations: list[str] = []
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # Opening waits only briefly for another process's lock: a journal locked for longer is
            # reported before any spend, not waited on.
            self._db = sqlite3.connect(
                str(self.path), timeout=READY_WAIT_SECONDS, check_same_thread=False, isolation_level=None
            )
        except (sqlite3.Error, OSError) as exc:
            raise _failure(self.path, exc) from None
        self._db.row_factory = sqlite3.Row
        try:
            self._set_up()
        except (sqlite3.Error, OSError) as exc:
            self._db.close()
            raise _failure(self.path, exc) from None
        if self.unknown_migrations and not reading:
            self._db.close()
            raise _newer_schema(self.path, self.unknown_migrations)
        self._writes = GroupCommit(self._db, lambda exc: _failure(self.path, exc))
        self._reads = ReadPool(self.path, BUSY_TIMEOUT_SECONDS)
        if not self.unknown_migrations:
            self._take_back_fallback()

    def _set_up(self) -> None:
        """WAL, durability and the migrations; retried while another process is creating the same file.

        Switching a fresh file to WAL returns "database is locked" at once (no busy wait)
        when another process is switching it at the same moment, so that race is retried.
        """
        deadline = time.monotonic() + OPEN_RETRY_SECONDS
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                # A row must survive a crash the instant it is written: that is the whole point.
                self._db.execute("PRAGMA synchronous=FULL")
                self.unknown_migrations = migrate(self._db)
                self._db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
                self._db.execute(f"PRAGMA cache_size=-{WRITER_CACHE_KIB}")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        with self._writes.exclusive():
            self._db.close()
        self._reads.close()

    def __enter__(self) -> JobJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _write(self, work: Callable[[sqlite3.Connection], Any], *, durable: bool = True, later: Then | None = None) -> Any:
        """``work(db)`` committed (in a group commit), its result; returns only once it is written.

        ``durable=False``: free bookkeeping, no fsync of its own (the next FULL commit covers it).
        ``later``: queued for the next commit and told the outcome there (``GroupCommit.write_later``).
        """
        if later is not None:
            return self._writes.write_later(work, later)
        return self._writes.write(work, durable=durable)

    def _read(self, sql: str, params: tuple[Any, ...] = (), *, plain: bool = False) -> list[Any]:
        try:
            return self._reads.fetchall(sql, params, plain=plain)
        except sqlite3.Error as exc:
            raise _failure(self.path, exc) from None

    def check_ready(self, wait: float = READY_WAIT_SECONDS) -> None:
        """Before a spend: the journal takes a write within ``wait`` seconds, or nothing is sent."""
        if self.unknown_migrations:
            raise _newer_schema(self.path, self.unknown_migrations)
        with self._writes.exclusive() as db:
            try:
                db.execute(f"PRAGMA busy_timeout={int(wait * 1000)}")
                try:
                    db.execute("BEGIN IMMEDIATE")
                    db.execute("ROLLBACK")
                finally:
                    db.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_SECONDS * 1000)}")
            except sqlite3.Error as exc:
                raise _failure(self.path, exc) from None

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
        conflicts: Callable[[JobRecord], bool] | None = None, sandbox: bool | None = None, out_target: str | None = None,
    ) -> int:
        """Before the submit is sent: returns the row id to attach the job id to.

        With ``conflicts``, a batch line is claimed atomically: if any row under the same
        ``batch_key`` matches it (another process got there first), nothing is written and
        ``LineAlreadySubmitted`` is raised. The check and the insert share one write lock,
        so two processes running one manifest can never both pay for a line.
        """
        now = _now()

        values = (now, now, SUBMITTING, gateway, account, prompt, style, size, n, reference_urls, out_dir,
                  batch_key, name, sandbox, out_target)

        def insert(db: sqlite3.Connection) -> int:
            if batch_key is not None and conflicts is not None:
                # Read and judged under the same write lock as the insert. (Claiming a line in one
                # INSERT ... SELECT ... WHERE NOT EXISTS saved a statement but added ~1.2 MiB to a
                # 5,000-line batch's peak RSS, measured twice against this; so two statements.)
                rows = db.execute("SELECT * FROM jobs WHERE batch_key = ?", (batch_key,)).fetchall()
                if any(conflicts(JobRecord.from_row(row)) for row in rows):
                    raise LineAlreadySubmitted(f"Batch line {batch_key!r} was submitted by another run.")
            return int(db.execute(hot_sql.INSERT_SUBMIT, values).lastrowid or 0)

        row_id: int = self._write(insert)  # durable: the row exists on disk before the money can move
        self._open_submits[row_id] = now
        self._keep_written(row_id, JobRecord(
            id=row_id, created_at=now, updated_at=now, status=SUBMITTING, job_id=None, gateway=gateway,
            account=account, prompt=prompt, style=style, size=size, n=n, reference_urls=reference_urls,
            estimated_seconds=None, credits_used=None, out_dir=out_dir, batch_key=batch_key, name=name,
            sandbox=None if sandbox is None else bool(sandbox), out_target=out_target))
        return row_id

    def record_job_id(
        self, row_id: int, job_id: str, *, estimated_seconds: int | None, credits_used: float | None
    ) -> bool:
        """The moment the gateway answers the submit. False when another row already holds ``job_id``.

        A gateway that answers two submits with one id (a retried idempotent submit, or
        a broken gateway) leaves this row ``unknown``, pointing at the row with the id:
        that row is the job, and fetching it costs nothing.
        """
        submitted = self._written.pop(row_id, None)
        stamp = _now()
        params = (SUBMITTED, job_id, estimated_seconds, credits_used, stamp, row_id)
        try:
            self._write(lambda db: db.execute(hot_sql.UPDATE_JOB_ID, params))
            self._open_submits.pop(row_id, None)
        except sqlite3.IntegrityError:
            holder = self._read("SELECT id FROM jobs WHERE job_id = ?", (job_id,))
            where = f"row {holder[0]['id']}" if holder else "another row"
            self.mark_unknown(row_id, f"the gateway answered with job id {job_id}, which {where} already holds")
            return False
        if submitted is not None:  # popped above, so no one else holds it: updated in place (``replace`` cost 0.1 ms)
            record = submitted[1]
            record.status, record.job_id, record.estimated_seconds, record.updated_at = (
                SUBMITTED, job_id, estimated_seconds, stamp)
            record.credits_used = None if credits_used is None else float(credits_used)  # a REAL column
            self._keep_written(job_id, record)
        return True

    def _keep_written(self, key: Any, record: JobRecord) -> None:
        """Keep a row this handle just wrote; the oldest go first (at most ``WRITTEN_KEPT``)."""
        if len(self._written) >= WRITTEN_KEPT:
            try:
                self._written.pop(next(iter(self._written)), None)
            except (RuntimeError, StopIteration):  # another thread changed it meanwhile: the next call evicts
                pass
        self._written[key] = (time.monotonic(), record)

    def idempotency_key(self, row_id: int) -> str:
        """A key only this row's submit can carry: the same on every retry of it, new for any other row.

        Derived from the journal file, the row id and its creation time, so a recreated journal
        (row ids start again) never repeats an old key. A row this handle just wrote needs no read.
        """
        from gptimg.digests import sha256_hex

        created_at = self._open_submits.get(row_id)
        if created_at is None:
            rows = self._read("SELECT created_at FROM jobs WHERE id = ?", (row_id,))
            created_at = rows[0][0] if rows else ""
        if self._resolved_path is None:
            self._resolved_path = str(self.path.resolve())
        seed = f"{self._resolved_path}|{row_id}|{created_at}"
        return "gptimg-" + sha256_hex(seed.encode("utf-8"))[:32]

    def mark_unknown(self, row_id: int, reason: str) -> None:
        self._update_row(row_id, status=UNKNOWN, error=reason)

    def mark_rejected(self, row_id: int, reason: str) -> None:
        self._update_row(row_id, status=REJECTED, error=reason)

    def mark_running(self, job_id: str) -> None:
        self._update_job(job_id, status=RUNNING, only_if_open=True, durable=False)

    def mark_done(self, job_id: str, items: list[dict[str, Any]], files: list[str] | None = None, *,
                  later: Then | None = None) -> None:
        """``later``: queued for the next commit, which tells it the outcome (a batch's saved files)."""
        if files is None:
            sql, params = hot_sql.MARK_DONE, (DONE, json.dumps(items), _now(), job_id)
        else:
            sql, params = hot_sql.MARK_DONE_WITH_FILES, (DONE, json.dumps(items), json.dumps(files), _now(), job_id)
        self._write(lambda db: db.execute(sql, params), durable=False, later=later)

    def mark_error(self, job_id: str, message: str, *, code: str = GATEWAY_FAILED) -> None:
        """The job ended without images; ``code`` says why (see ``JobRecord.failed_on_gateway``)."""
        self._update_job(job_id, status=ERROR, error=message, error_code=code, durable=False)

    def note_problem(self, job_id: str, message: str) -> None:
        """A fetch problem (download, disk, a job the gateway does not know now): the job stays as it was."""
        self._update_job(job_id, error=message, durable=False)

    def ensure_job(self, job_id: str, *, gateway: str, out_dir: str | None = None) -> JobRecord:
        """The row for ``job_id``; one is created for a job submitted elsewhere (``gptimg result``).

        A job kept in the fallback file gets its row back with what the fallback knew.
        """
        written = self._written.pop(job_id, None)
        if written is not None and time.monotonic() - written[0] < WRITTEN_FRESH_SECONDS:
            return written[1]
        record = self.get(job_id)
        if record is not None:
            return record
        kept = next((e for e in reversed(fallback.read_jobs(self.path.parent)) if e["job_id"] == job_id), {})
        now = _now()
        self._write(lambda db: db.execute(
            "INSERT OR IGNORE INTO jobs (created_at, updated_at, status, job_id, gateway, prompt,"
            " out_dir, batch_key, name) VALUES (?,?,?,?,?,?,?,?,?)",
            (now, now, RUNNING, job_id, gateway, _text(kept.get("prompt")) or "",
             out_dir or _text(kept.get("out_dir")), _text(kept.get("batch_key")), _text(kept.get("name"))),
        ))
        record = self.get(job_id)
        if record is None:  # only a vanished row could get here
            raise JournalUnavailable(f"The job journal {self.path} lost job {job_id} while writing it.")
        return record

    def keep_in_fallback(self, row_id: int | None, job_id: str, **known: Any) -> Path | None:
        """The journal could not take ``job_id``: append it to the fallback file next to it."""
        return fallback.append_job(self.path.parent, {"job_id": job_id, "row_id": row_id, **known})

    def _take_back_fallback(self) -> None:
        """Ids kept in the fallback file go into the rows that waited for them once the journal works again."""
        if not fallback.fallback_path(self.path.parent).exists():
            return
        for entry in fallback.read_jobs(self.path.parent):
            row_id = entry.get("row_id")
            if not isinstance(row_id, int) or self.get(entry["job_id"]) is not None:
                continue
            waiting = self._read("SELECT id FROM jobs WHERE id = ? AND job_id IS NULL AND status IN (?, ?)",
                                 (row_id, SUBMITTING, UNKNOWN))
            if waiting:
                self.record_job_id(row_id, entry["job_id"], estimated_seconds=None, credits_used=None)

    def abandon_submitting(self, reason: str) -> int:
        """This handle's rows still ``submitting`` when it gives up: their outcome is unknown now.

        Rows of other processes are left alone: their submits may still be answered.
        """
        rows = sorted(self._open_submits)
        if not rows:
            return 0
        changed: int = self._write(lambda db: db.execute(
            f"UPDATE jobs SET status=?, error=?, updated_at=? WHERE status=? AND id IN ({','.join('?' * len(rows))})",  # noqa: S608
            (UNKNOWN, reason, _now(), SUBMITTING, *rows),
        ).rowcount)
        self._open_submits.clear()
        return changed

    def _update_row(self, row_id: int, **changes: Any) -> None:
        self._update("id = ?", (row_id,), changes)
        self._open_submits.pop(row_id, None)
        self._written.pop(row_id, None)

    def _update_job(self, job_id: str, *, only_if_open: bool = False, durable: bool = True,
                    later: Then | None = None, **changes: Any) -> None:
        where = "job_id = ?"
        if only_if_open:
            where += f" AND status IN ({','.join('?' * len(OPEN_STATES))})"
            self._update(where, (job_id, *OPEN_STATES), changes, durable=durable)
        else:
            self._update(where, (job_id,), changes, durable=durable, later=later)

    def _update(self, where: str, params: tuple[Any, ...], changes: dict[str, Any], *, durable: bool = True,
                later: Then | None = None) -> None:
        changes.setdefault("updated_at", _now())
        assignments = ", ".join(f"{column} = ?" for column in changes)
        sql = f"UPDATE jobs SET {assignments} WHERE {where}"  # noqa: S608
        self._write(lambda db: db.execute(sql, (*changes.values(), *params)), durable=durable, later=later)

    # --- reads --------------------------------------------------------------------------

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._read("SELECT * FROM jobs WHERE job_id = ?", (job_id,))
        return JobRecord.from_row(rows[0]) if rows else None

    def recent(self, limit: int = 20) -> list[JobRecord]:
        """Newest first, as ``gptimg jobs`` lists them: fallback ids included, stale submits as unknown."""
        rows = self._read("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))
        now = datetime.now(timezone.utc)
        records = [JobRecord.from_row(row).as_listed(now) for row in rows]
        kept = [e for e in fallback.read_jobs(self.path.parent) if self.get(e["job_id"]) is None]
        if kept:
            where = fallback.fallback_path(self.path.parent)
            records.extend(JobRecord.from_fallback(entry, where) for entry in kept)
            records.sort(key=lambda r: r.created_at, reverse=True)
        return records[:limit]

    def for_batch_key(self, batch_key: str) -> list[JobRecord]:
        """Every submit made for one batch line, oldest first."""
        rows = self._read("SELECT * FROM jobs WHERE batch_key = ? ORDER BY id", (batch_key,))
        return [JobRecord.from_row(row) for row in rows]

    def for_batch_keys(self, batch_keys: list[str]) -> dict[str, list[JobRecord]]:
        """``for_batch_key`` for many lines at once: key -> its submits, oldest first.

        Planning a 5,000-line re-run asked once per line (a third of its time went to
        borrowing a read connection 5,000 times); this asks once per 500 keys, still
        through the batch_key index, so the cost follows the manifest, not the journal.
        """
        found: dict[str, list[JobRecord]] = {}
        unique = list(dict.fromkeys(batch_keys))
        for start in range(0, len(unique), BATCH_KEYS_PER_QUERY):
            chunk = unique[start : start + BATCH_KEYS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            for row in self._read(f"SELECT * FROM jobs WHERE batch_key IN ({marks}) ORDER BY id", tuple(chunk)):
                record = JobRecord.from_row(row)
                found.setdefault(row["batch_key"], []).append(record)
        return found

    def plan_rows(self, batch_keys: list[str]) -> list[tuple[Any, ...]]:
        """Every row under these keys, each key's oldest first, with only the columns a batch plan reads (``PLAN_COLUMNS``).

        By key, then id: the order the key's index already gives, so SQLite sorts nothing (ordered by id
        alone, sorting each query's rows was a tenth of its cost); the planner groups the rows by key.

        A re-run of a finished 5,000-line batch spent a quarter of its time turning every
        column of every row into a ``JobRecord``; telling that a line is done needs ten of
        them. The planner asks ``for_batch_keys`` for full records of the few lines left.
        """
        rows: list[tuple[Any, ...]] = []
        unique = list(dict.fromkeys(batch_keys))
        for start in range(0, len(unique), BATCH_KEYS_PER_QUERY):
            chunk = unique[start : start + BATCH_KEYS_PER_QUERY]
            marks = ",".join("?" * len(chunk))
            rows += self._read(f"SELECT {PLAN_COLUMNS} FROM jobs WHERE batch_key IN ({marks}) ORDER BY batch_key, id",
                               tuple(chunk), plain=True)
        return rows


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
