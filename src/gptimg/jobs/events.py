"""Journal migration m005: a status history per job, kept by SQLite triggers.

In its own module because the journal module is at its size limit; ``journal.py``
registers it after m004, so the order of migrations is unchanged.
"""

from __future__ import annotations

import sqlite3


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
