"""A journal handle's memory has a bound that does not grow with the journal it works on.

A 5,000-line batch writes 5,000 rows and updates them all over the file. SQLite's
default page cache (2,000 KiB a connection) fills as the file grows, so a batch's
peak memory grew with its size; the handle's connections keep small caches instead.
Measured with SQLite's own counter (``sqlite3_memory_used``), which counts every
page cache of the process, not only Python objects.
"""

from __future__ import annotations

import ctypes
import sqlite3
from pathlib import Path

import pytest

from gptimg.jobs.journal import JobJournal

ROWS = 8000


def _sqlite_memory_used() -> int:
    """Bytes SQLite has allocated in this process, or skip where the module does not expose its library."""
    import _sqlite3

    try:
        used = ctypes.CDLL(_sqlite3.__file__).sqlite3_memory_used
    except (OSError, AttributeError):
        pytest.skip("this Python's sqlite3 does not expose sqlite3_memory_used")
    used.restype = ctypes.c_int64
    return int(used())


def _journal_of(path: Path, rows: int) -> None:
    """A journal holding ``rows`` running jobs, written in one transaction (their count is the point, not how)."""
    JobJournal(path).close()
    db = sqlite3.connect(path)
    with db:
        db.executemany(
            "INSERT INTO jobs (created_at, updated_at, status, job_id, gateway, prompt, batch_key, name)"
            " VALUES ('2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z', 'running', ?, 'https://gw.test', ?, ?, ?)",
            ((f"job_{i:08d}", f"a prompt of some length, line {i}", f"key{i:08d}", f"img{i:05d}")
             for i in range(rows)),
        )
    db.close()  # its own cache is not the handle's to answer for


def test_updating_rows_all_over_a_big_journal_leaves_its_memory_flat(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    _journal_of(path, ROWS)
    with JobJournal(path) as journal:
        journal.mark_done("job_00000000", [{"url": "https://cdn.test/0.png"}], ["/out/img00000-0-1.png"])
        before = _sqlite_memory_used()
        for i in range(1, ROWS, 4):  # every fourth row: every page of the table and its indexes
            job_id = f"job_{i:08d}"
            journal.mark_done(job_id, [{"url": f"https://cdn.test/{i}.png"}], [f"/out/img{i:05d}-{i}-1.png"])
            assert journal.get(job_id).status == "done"
        grown = _sqlite_memory_used() - before
    # The file is 2.7 MB: SQLite's default cache grew by 2.1 MB here, the handle's bounded caches by 0.3 MB.
    assert grown < 512 * 1024, f"the journal handle took {grown // 1024} KiB more for {ROWS // 4} updates"
