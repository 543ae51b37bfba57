"""Group commit: the writes of many threads share one transaction and one fsync.

A batch at concurrency 64 has 64 workers writing the journal at once. Committing
each write alone with ``synchronous=FULL`` made them queue behind one disk flush
at a time (over half of a batch's samples were spent waiting for that). Here a
write is queued; the first writer that finds no commit in progress becomes the
leader, takes every queued write, runs each inside its own SAVEPOINT of one
``BEGIN IMMEDIATE`` transaction and commits once. Writers that arrive meanwhile
wait, and the next leader takes them all. Every writer still returns only once
the commit holding its row is done, so "written when the call returns" holds as
before (durable ones under ``synchronous=FULL``, the fsync of the WAL).

Failures stay each caller's own: a write that raises (a constraint, a line
another run claimed) is rolled back to its savepoint and its exception goes to
its caller alone; a failure of the transaction itself (another process holds the
write lock past the busy timeout, a full disk, an I/O error) reaches every
caller of the group as the same ``JournalUnavailable``.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from gptimg.errors import JournalUnavailable

Work = Callable[[sqlite3.Connection], Any]
Failure = Callable[[BaseException], JournalUnavailable]


class _Write:
    """One caller's work, and what came of it once its group committed."""

    __slots__ = ("work", "durable", "done", "handed", "result", "error", "wake")

    def __init__(self, work: Work | None, durable: bool) -> None:
        self.work = work  # None: a turn at the connection alone (``exclusive``), no statement
        self.durable = durable
        self.done = False
        #: Set when the turn to lead is handed to this caller (it then must lead, or pass it on).
        self.handed = False
        self.result: Any = None
        self.error: BaseException | None = None
        #: Released once: when the write is done, or when it is this caller's turn to lead.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit:
    """The one write connection of a journal handle, shared by its threads through group commits.

    Each waiting caller sleeps on a lock of its own, woken exactly once (its group is
    committed, or it leads the next one), so a commit wakes only the callers it concerns.
    """

    def __init__(self, db: sqlite3.Connection, failure: Failure) -> None:
        self._db = db
        self._failure = failure
        self._guard = threading.Lock()
        self._pending: list[_Write] = []
        #: True while a leader (or ``exclusive``) has the connection, or a handed-over turn is on its way.
        self._busy = False
        #: The ``synchronous`` mode in force (the journal opens with FULL), so it is set only when it changes.
        self._synchronous = "FULL"

    def write(self, work: Work, *, durable: bool = True) -> Any:
        """Run ``work(db)`` in a committed transaction; its result, or its own exception, once committed.

        ``durable=False`` is free bookkeeping: it commits without an fsync of its own unless
        it shares the group of a durable write (the next durable commit covers it anyway).
        """
        mine = _Write(work, durable)
        if self._take_turn(mine):
            with self._guard:  # lead every write queued so far; ``exclusive`` turns stay queued
                group = [mine, *(w for w in self._pending if w.work is not None and w is not mine)]
                self._pending = [w for w in self._pending if w.work is None]
            try:
                self._commit(group)
            except BaseException as exc:  # a signal in the leader's thread mid-commit: nobody's row is known
                self._rollback()
                for write in group:
                    if write.error is None:
                        write.error = self._failure(exc)
                raise
            finally:
                self._hand_over(group, mine)
        if mine.error is not None:
            raise mine.error
        return mine.result

    @contextmanager
    def exclusive(self) -> Iterator[sqlite3.Connection]:
        """The write connection alone (no group in progress), for set-up checks and closing."""
        mine = _Write(None, False)
        self._take_turn(mine)  # never absorbed into a group: it always comes back with the turn
        with self._guard:
            self._pending = [w for w in self._pending if w is not mine]
        try:
            yield self._db
        finally:
            self._hand_over([], mine)

    def _take_turn(self, mine: _Write) -> bool:
        """True when ``mine`` has the connection now; False when another leader committed it meanwhile."""
        with self._guard:
            if not self._busy:
                self._busy = True
                return True
            self._pending.append(mine)
        try:
            mine.wake.acquire()
        except BaseException:  # a signal's exception in the main thread: leave the queue, pass on any turn
            self._leave(mine)
            raise
        return not mine.done

    def _leave(self, mine: _Write) -> None:
        """An interrupted caller: its write is withdrawn unless a group already committed it."""
        with self._guard:
            if mine.done:
                return
            self._pending = [w for w in self._pending if w is not mine]
            if not mine.handed:
                return
        self._hand_over([], mine)  # the turn was on its way to this caller: give it to the next one

    def _hand_over(self, group: list[_Write], leader: _Write) -> None:
        """Wake the group's callers, and hand the connection to the oldest queued caller (or free it)."""
        with self._guard:
            for write in group:
                write.done = True
            following = self._pending[0] if self._pending else None
            if following is None:
                self._busy = False
            else:
                following.handed = True
        for write in group:
            if write is not leader:
                write.wake.release()
        if following is not None:  # it stays queued: as leader it takes itself and the rest
            following.wake.release()

    def _commit(self, group: list[_Write]) -> None:
        db = self._db
        try:
            self._set_synchronous("FULL" if any(write.durable for write in group) else "NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for write in group:
                self._run_in_savepoint(write)
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself failed: every caller hears the same
            self._rollback()
            for write in group:  # each its own exception object: they are raised in different threads
                if write.error is None:  # a caller whose own work failed keeps its own reason
                    write.error = self._failure(exc)

    def _run_in_savepoint(self, write: _Write) -> None:
        """One caller's statements; its failure is rolled back to its savepoint and kept for it alone.

        A statement error after which SQLite has rolled back the whole transaction (disk
        full, I/O error) is raised: then the group as a whole failed.
        """
        db = self._db
        db.execute("SAVEPOINT gptimg_write")
        try:
            write.result = write.work(db)
        except Exception as exc:  # noqa: BLE001  (the caller gets it back, in its own thread)
            if isinstance(exc, sqlite3.Error) and not db.in_transaction:
                raise
            write.error = self._failure(exc) if _journal_fault(exc) else exc
            db.execute("ROLLBACK TO gptimg_write")
        db.execute("RELEASE gptimg_write")

    def _set_synchronous(self, mode: str) -> None:
        if mode != self._synchronous:
            self._db.execute(f"PRAGMA synchronous={mode}")
            self._synchronous = mode

    def _rollback(self) -> None:
        try:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the transaction is gone already (SQLite rolls back itself on some errors)


def _journal_fault(exc: BaseException) -> bool:
    """A SQLite error other than a constraint: told as ``JournalUnavailable``; constraints go back as they are."""
    return isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError)
