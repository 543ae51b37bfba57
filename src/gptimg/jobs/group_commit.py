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

A write whose caller need not wait for it (``write_later``: a batch's "these
files are saved") is queued and its caller goes on at once; its ``then`` hears
the outcome in whichever thread commits it (the batch reports the line there, so
a line is still reported only once its row is written). A batch's download
threads spent about half of each save waiting for that commit, and with 16 of
them the wait capped the batch's pace. The next group takes such a write; a
leader that finds only such writes queued commits them itself before it returns,
and ``exclusive`` (closing the journal) commits what is left first.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

from gptimg.errors import JournalUnavailable

Work = Callable[[sqlite3.Connection], Any]
Failure = Callable[[BaseException], JournalUnavailable]
#: Told the outcome of a ``write_later`` write once its group is over: None, or the failure.
Then = Callable[[Optional[BaseException]], None]


class _Write:
    """One caller's work, and what came of it once its group committed."""

    __slots__ = ("work", "durable", "later", "done", "handed", "result", "error", "wake")

    def __init__(self, work: Work | None, durable: bool, *, later: Then | None = None) -> None:
        self.work = work  # None: a turn at the connection alone (``exclusive``), no statement
        self.durable = durable
        #: ``write_later``'s ``then``: no thread waits for this write, so it is never handed the turn.
        self.later = later
        self.done = False
        #: Set when the turn to lead is handed to this caller (it then must lead, or pass it on).
        self.handed = False
        self.result: Any = None
        self.error: BaseException | None = None
        #: Released once: when the write is done, or when it is this caller's turn to lead. Made only
        #: for a caller that waits (``_take_turn``): a leader's or a ``write_later``'s is never used.
        self.wake: Any = None


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
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return mine.result

    def write_later(self, work: Work, then: Then) -> None:
        """Queue ``work`` for the next group commit (``durable=False``) and return; ``then`` hears how it went.

        ``then(None)`` once it is committed, ``then(failure)`` if it was not, in the
        thread that committed it (it must not raise, nor wait for this journal). With no
        commit in progress, the caller commits it now, as ``write`` would. Only for
        bookkeeping whose loss costs a free re-fetch: a ``kill -9`` before the commit loses it.
        """
        mine = _Write(work, False, later=then)
        with self._guard:
            if self._busy:
                self._pending.append(mine)  # the running leader takes it, or commits it before it returns
                return
            self._busy = True
        self._lead(mine)

    def _lead(self, mine: _Write) -> None:
        """Commit every write queued so far (``exclusive`` turns stay queued), then pass the turn on."""
        group = self._gather(mine)
        while group:
            try:
                self._commit(group)
            except BaseException as exc:  # a signal in the leader's thread mid-commit: nobody's row is known
                self._rollback()
                for write in group:
                    if write.error is None:
                        write.error = self._failure(exc)
                self._hand_over(group, mine, lead_on=False)
                raise
            group = self._hand_over(group, mine)

    def _gather(self, mine: _Write) -> list[_Write]:
        with self._guard:
            group = [mine, *(w for w in self._pending if w.work is not None and w is not mine)]
            self._pending = [w for w in self._pending if w.work is None]
        return group

    @contextmanager
    def exclusive(self) -> Iterator[sqlite3.Connection]:
        """The write connection alone (no group in progress), for set-up checks and closing."""
        mine = _Write(None, False)
        self._take_turn(mine)  # never absorbed into a group: it always comes back with the turn
        with self._guard:
            later = [w for w in self._pending if w.later is not None]
            self._pending = [w for w in self._pending if w is not mine and w.later is None]
        try:
            if later:  # queued writes nobody waits for go in before the connection is used alone, or closed
                self._commit(later)
                _tell_later(later)
            yield self._db
        finally:
            self._hand_over([], mine, lead_on=False)

    def _take_turn(self, mine: _Write) -> bool:
        """True when ``mine`` has the connection now; False when another leader committed it meanwhile."""
        with self._guard:
            if not self._busy:
                self._busy = True
                return True
            mine.wake = threading.Lock()
            mine.wake.acquire()
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
        self._hand_over([], mine, lead_on=False)  # the turn was on its way to this caller: give it on

    def _hand_over(self, group: list[_Write], leader: _Write, *, lead_on: bool = True) -> list[_Write]:
        """Wake the group's callers, and hand the connection to the oldest waiting caller (or free it).

        When only ``write_later`` writes are queued, nobody is waiting to lead them: with
        ``lead_on`` they are returned, and the leader commits them too, still holding the turn.
        """
        more: list[_Write] = []
        with self._guard:
            for write in group:
                write.done = True
            following = next((w for w in self._pending if w.later is None), None)
            if following is not None:
                following.handed = True
            elif lead_on and self._pending:
                more, self._pending = self._pending, []
            else:
                self._busy = False
        for write in group:
            if write is not leader and write.later is None:
                write.wake.release()
        if following is not None:  # it stays queued: as leader it takes itself and the rest
            following.wake.release()
        _tell_later(group)
        return more

    def _commit(self, group: list[_Write]) -> None:
        db = self._db
        try:
            self._set_synchronous("FULL" if any(write.durable for write in group) else "NORMAL")
            db.execute("BEGIN IMMEDIATE")
            if not self._run_all(group):  # one write failed: again, each write in a savepoint of its own
                db.execute("ROLLBACK")
                db.execute("BEGIN IMMEDIATE")
                for write in group:
                    self._run_in_savepoint(write)
            db.execute("COMMIT")
        except sqlite3.Error as exc:  # the transaction itself failed: every caller hears the same
            self._rollback()
            for write in group:  # each its own exception object: they are raised in different threads
                if write.error is None:  # a caller whose own work failed keeps its own reason
                    write.error = self._failure(exc)

    def _run_all(self, group: list[_Write]) -> bool:
        """Every write's statements with no savepoints around them; False as soon as one raises.

        A savepoint and its release were two of the three or four statements of a write, and
        the leader waits for the GIL after each statement (a group of 25 took ~75 ms with a
        batch's threads). Nearly every group succeeds whole; when a write raises, the caller
        rolls the group back and runs it again with savepoints, so a failure stays its caller's
        own. Works only run statements on the connection, so running one twice is harmless.
        """
        db = self._db
        for write in group:
            try:
                write.result = write.work(db)  # type: ignore[misc]  (a group holds no ``exclusive`` turn)
            except Exception as exc:  # noqa: BLE001  (the savepoint run tells it to its caller)
                if isinstance(exc, sqlite3.Error) and not db.in_transaction:
                    raise
                return False
        return True

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


def _tell_later(group: list[_Write]) -> None:
    """Each ``write_later`` write of a finished group hears its outcome; one that raises cannot stop the rest."""
    for write in group:
        if write.later is not None:
            try:
                write.later(write.error)
            except Exception:  # noqa: BLE001, S110  (the committing thread is someone else's: it must go on)
                pass


def _journal_fault(exc: BaseException) -> bool:
    """A SQLite error other than a constraint: told as ``JournalUnavailable``; constraints go back as they are."""
    return isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError)
