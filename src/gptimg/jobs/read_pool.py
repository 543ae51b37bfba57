"""Read connections beside the journal's write connection, so a read never queues behind a commit's fsync.

In WAL mode a reader sees the last committed state while a writer is busy; it
only needs a connection of its own. Each read borrows one of a few pooled
connections (opened on first need, at most ``MAX_READERS`` at once, so a batch of
hundreds of threads never runs out of file descriptors) and gives it back. A
read starts a fresh snapshot, so a thread always sees its own writes once the
write call has returned: that call returned after its commit.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

#: Readers at once; more wait for a free connection (reads take microseconds, not an fsync).
MAX_READERS = 4
#: Each reader's page cache, in KiB. Small: a WAL reader drops its cache whenever another
#: connection committed, so a big one would only hold memory (the OS caches the file anyway).
READER_CACHE_KIB = 256


class ReadPool:
    def __init__(self, path: Path, timeout: float) -> None:
        self._path = path
        self._timeout = timeout
        self._idle: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        self._slots = threading.BoundedSemaphore(MAX_READERS)
        self._closed = False

    def fetchall(self, sql: str, params: tuple[Any, ...] = (), *, plain: bool = False) -> list[Any]:
        """Every row of one query (all of them: an unfinished statement would pin an old snapshot).

        ``sqlite3.Row``s, or with ``plain`` tuples: a tuple is cheaper to make and unpacks in one step (a
        ``Row`` unpacks item by item), for a caller that reads thousands of rows by position.
        """
        with self._slots:
            db = self._borrow()
            try:
                cursor = db.cursor()
                if plain:
                    cursor.row_factory = None
                return cursor.execute(sql, params).fetchall()
            finally:
                self._give_back(db)

    def close(self) -> None:
        with self._guard:
            self._closed = True
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()

    def _borrow(self) -> sqlite3.Connection:
        with self._guard:
            if self._closed:
                raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
            if self._idle:
                return self._idle.pop()
        db = sqlite3.connect(str(self._path), timeout=self._timeout, check_same_thread=False, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            db.execute("PRAGMA query_only=ON")  # reads only: every write goes through the group commit
            db.execute(f"PRAGMA cache_size=-{READER_CACHE_KIB}")
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _give_back(self, db: sqlite3.Connection) -> None:
        with self._guard:
            if not self._closed:
                self._idle.append(db)
                return
        db.close()
