"""The journal's schema: numbered migrations, and bringing a file up to them.

Each migration is applied once, in order, and recorded in ``_migrations``; a
released migration is never edited, a change is a new one. A file that records
a migration this gptimg does not know was written by a newer one: ``migrate``
reports it and changes nothing, and the journal decides what that allows.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from gptimg.jobs.record import _now

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


@migration
def m003_error_code(db: sqlite3.Connection) -> None:
    # Why a job is in ``error``: only the gateway's own terminal error ("generation_failed")
    # frees a batch line to be paid for again; a job the gateway did not know ("job_not_found")
    # is asked about again, never resubmitted.
    db.execute("ALTER TABLE jobs ADD COLUMN error_code TEXT")


@migration
def m004_gateway_kind(db: sqlite3.Connection) -> None:
    for column in ("sandbox INTEGER", "out_target TEXT"):  # what they mean: JobRecord.sandbox, .out_target
        db.execute(f"ALTER TABLE jobs ADD COLUMN {column}")


@migration
def m005_status_history(db: sqlite3.Connection) -> None:
    # ``gptimg jobs show`` tells when each status began. Triggers keep that history
    # whichever code path changes a row, in the same transaction as the change; rows
    # from before this migration get one event, their current status.
    db.execute(
        "CREATE TABLE job_events (id INTEGER PRIMARY KEY AUTOINCREMENT, job_row INTEGER NOT NULL,"
        " at TEXT NOT NULL, status TEXT NOT NULL, error TEXT)"
    )
    db.execute("CREATE INDEX job_events_row ON job_events (job_row)")
    db.execute(
        "INSERT INTO job_events (job_row, at, status, error) SELECT id, updated_at, status, error FROM jobs"
    )
    db.execute(
        "CREATE TRIGGER jobs_event_insert AFTER INSERT ON jobs BEGIN"
        " INSERT INTO job_events (job_row, at, status, error) VALUES (NEW.id, NEW.updated_at, NEW.status, NEW.error);"
        " END"
    )
    db.execute(
        "CREATE TRIGGER jobs_event_update AFTER UPDATE OF status ON jobs WHEN NEW.status IS NOT OLD.status BEGIN"
        " INSERT INTO job_events (job_row, at, status, error) VALUES (NEW.id, NEW.updated_at, NEW.status, NEW.error);"
        " END"
    )


def applied_migrations(db: sqlite3.Connection) -> set[str] | None:
    """Names of the migrations in the file; None when it has no migration table yet."""
    try:
        return {row[0] for row in db.execute("SELECT name FROM _migrations")}
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise


def migrate(db: sqlite3.Connection) -> list[str]:
    """Bring the schema up to date; return the file's migrations this gptimg does not know.

    Only a file that needs a migration is write-locked (``jobs`` beside a batch reads).
    A file with unknown migrations is left as it is.
    """
    known = [name for name, _ in MIGRATIONS]
    applied = applied_migrations(db)
    if applied is not None and set(known) <= applied:
        return sorted(applied - set(known))
    db.execute("BEGIN IMMEDIATE")
    try:
        db.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
        applied = applied_migrations(db) or set()
        unknown = sorted(applied - set(known))
        if not unknown:
            for name, fn in MIGRATIONS:
                if name not in applied:
                    fn(db)
                    db.execute("INSERT INTO _migrations (name, applied_at) VALUES (?,?)", (name, _now()))
    except BaseException:
        try:
            db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone already (SQLite rolls back itself on some errors)
        raise
    db.execute("COMMIT")
    return unknown
