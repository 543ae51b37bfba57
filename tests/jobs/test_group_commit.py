"""Group commit: many threads' writes share a commit, yet each is written when its call returns.

The journal's promise "from the moment a submit may have left, its job id is never
lost" rests on ``record_submit`` and ``record_job_id`` returning only once their row
is committed. These tests hold the first leader at its ``BEGIN`` until the other
writers are queued behind it, so the groups they assert are certain, not likely.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from gptimg.errors import JournalUnavailable, LineAlreadySubmitted
from gptimg.jobs.journal import JobJournal
from waiting import wait_until

GATEWAY = "https://gw.test"


def hold_begins(journal: JobJournal) -> tuple[list[str], Callable[[int], None]]:
    """The statements the journal's write connection runs, and ``hold(n)``: the next BEGIN waits for ``n`` queued."""
    statements: list[str] = []
    armed: list[int] = []

    def trace(sql: str) -> None:
        statements.append(sql)
        if sql == "BEGIN IMMEDIATE" and armed:
            queued = armed.pop()
            wait_until(lambda: len(journal._writes._pending) >= queued, timeout=30, what=f"{queued} queued writes")

    journal._db.set_trace_callback(trace)
    return statements, armed.append


def run_threads(count: int, body: Callable[[int], Any]) -> list[Any]:
    """``body(i)`` in ``count`` threads at once; what each returned or raised."""
    outcomes: list[Any] = [None] * count

    def run(i: int) -> None:
        try:
            outcomes[i] = body(i)
        except Exception as exc:  # noqa: BLE001  (the test asserts on it)
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    return outcomes


def groups(statements: list[str]) -> list[int]:
    """How many callers' writes each committed transaction carried.

    A group runs its writes one after another (one INSERT or UPDATE each here, traced once per
    trigger it fires: counted once); only a group in which a write failed runs again with a
    savepoint per write, after a ROLLBACK.
    """
    found: list[int] = []
    current: list[str] | None = None
    for sql in statements:
        if sql == "BEGIN IMMEDIATE":
            current = []
        elif current is not None and sql in ("COMMIT", "ROLLBACK"):
            if sql == "COMMIT":
                savepoints = sum(s.startswith("SAVEPOINT") for s in current)
                found.append(savepoints or len({s for s in current if s.startswith(("INSERT", "UPDATE"))}))
            current = None
        elif current is not None:
            current.append(sql)
    return found


def test_many_threads_share_a_few_commits_and_each_row_is_committed_when_its_call_returns(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    writers = 16
    with JobJournal(path) as journal:
        statements, hold = hold_begins(journal)
        hold(writers - 1)  # the first submit's commit waits until the 15 others are queued behind it
        phase = threading.Barrier(writers, action=lambda: hold(writers - 1))  # and the same for the job ids
        seen_by_another_connection: list[tuple[int, str]] = []
        lock = threading.Lock()

        def writer(i: int) -> None:
            outside = sqlite3.connect(str(path), timeout=30)  # as another process would look
            row = journal.record_submit(gateway=GATEWAY, prompt=f"fox {i}", style=None, size=None, n=1)
            assert outside.execute("SELECT status FROM jobs WHERE id = ?", (row,)).fetchone() == ("submitting",)
            assert journal.idempotency_key(row) == journal.idempotency_key(row)
            phase.wait(30)
            assert journal.record_job_id(row, f"job-{i}", estimated_seconds=1, credits_used=300)
            found = outside.execute("SELECT status FROM jobs WHERE job_id = ?", (f"job-{i}",)).fetchone()
            assert journal.get(f"job-{i}") is not None  # this thread reads its own write at once
            outside.close()
            with lock:
                seen_by_another_connection.append((row, found[0] if found else "missing"))

        outcomes = run_threads(writers, writer)

    assert [o for o in outcomes if o is not None] == []
    assert sorted(status for _, status in seen_by_another_connection) == ["submitted"] * writers
    commits = statements.count("COMMIT")
    writes = 2 * writers
    assert commits == 4, f"{writes} writes took {commits} commits"  # 1 + 15 submits, then 1 + 15 ids
    assert sorted(groups(statements)) == [1, 1, writers - 1, writers - 1]


def test_a_caller_that_fails_inside_a_group_fails_alone(tmp_path: Path) -> None:
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        journal.record_submit(gateway=GATEWAY, prompt="taken", style=None, size=None, n=1, batch_key="line-1")
        held = journal.record_submit(gateway=GATEWAY, prompt="holder", style=None, size=None, n=1)
        journal.record_job_id(held, "job-taken", estimated_seconds=1, credits_used=300)
        waiting = journal.record_submit(gateway=GATEWAY, prompt="twin", style=None, size=None, n=1)
        statements, hold = hold_begins(journal)
        hold(5)

        def caller(i: int) -> Any:
            if i == 1:  # another run claimed this batch line: nothing written, LineAlreadySubmitted
                return journal.record_submit(gateway=GATEWAY, prompt="again", style=None, size=None, n=1,
                                             batch_key="line-1", conflicts=lambda record: True)
            if i == 2:  # the gateway answered with an id another row holds: a constraint, this row only
                return journal.record_job_id(waiting, "job-taken", estimated_seconds=1, credits_used=300)
            return journal.record_submit(gateway=GATEWAY, prompt=f"fine {i}", style=None, size=None, n=1)

        outcomes = run_threads(6, caller)
        assert isinstance(outcomes[1], LineAlreadySubmitted)
        assert outcomes[2] is False
        fine = [outcomes[i] for i in (0, 3, 4, 5)]
        assert all(isinstance(row, int) for row in fine), outcomes
        assert sorted(groups(statements)[:2]) == [1, 5], "the five shared one commit"
        rows = {row.prompt: row for row in journal.recent(20)}
        assert {f"fine {i}" for i in (0, 3, 4, 5)} <= set(rows)
        assert "again" not in rows
        assert rows["twin"].status == "unknown" and "job-taken" in (rows["twin"].error or "")
        assert journal.get("job-taken").prompt == "holder"  # type: ignore[union-attr]


def test_a_group_whose_commit_fails_fails_every_caller_with_journal_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("gptimg.jobs.journal.BUSY_TIMEOUT_SECONDS", 0.5)
    path = tmp_path / "journal.sqlite3"
    with JobJournal(path) as journal:
        rows = [journal.record_submit(gateway=GATEWAY, prompt=f"p{i}", style=None, size=None, n=1) for i in range(6)]
        statements, hold = hold_begins(journal)
        hold(5)
        other = sqlite3.connect(str(path), timeout=5, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock past the busy timeout
        try:
            outcomes = run_threads(6, lambda i: journal.record_job_id(rows[i], f"job-{i}", estimated_seconds=1,
                                                                      credits_used=300))
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert all(isinstance(o, JournalUnavailable) and "locked" in o.message for o in outcomes), outcomes
        assert len({id(o) for o in outcomes}) == 6, "each thread raises its own exception object"
        assert statements.count("BEGIN IMMEDIATE") == 2, "the first alone, then the five queued behind it"
        assert all(row.job_id is None for row in journal.recent(20))
        # The lock gone, the same handle writes again.
        assert journal.record_job_id(rows[0], "job-0", estimated_seconds=1, credits_used=300)


CHILD = """
import os, sys, threading
from pathlib import Path
from gptimg.jobs.journal import JobJournal

journal = JobJournal(Path(sys.argv[1]))

def writer(t):
    for i in range(10**6):
        row = journal.record_submit(gateway="https://gw.test", prompt=f"{t}-{i}", style=None, size=None, n=1)
        os.write(1, f"row {row}\\n".encode())
        journal.record_job_id(row, f"job-{t}-{i}", estimated_seconds=1, credits_used=300)
        os.write(1, f"job job-{t}-{i}\\n".encode())

for t in range(16):
    threading.Thread(target=writer, args=(t,), daemon=True).start()
threading.Event().wait()
"""


def kill_9_after(path: Path, jobs: int) -> list[str]:
    """Start the writer process, SIGKILL it the moment it has reported ``jobs`` ids; every line it wrote."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=os.environ.copy())
    assert child.stdout is not None
    reported: list[str] = []
    try:
        while sum(line.startswith("job ") for line in reported) < jobs:
            line = child.stdout.readline().decode()
            assert line, "the writer process ended early"
            reported.append(line)
    finally:
        child.send_signal(signal.SIGKILL)
        rest, _ = child.communicate(timeout=30)
    return reported + rest.decode().splitlines(keepends=True)


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
@pytest.mark.parametrize("jobs", [30, 90, 170, 250])
def test_every_write_a_caller_saw_return_survives_kill_9(tmp_path: Path, jobs: int) -> None:
    """A real process with 16 writing threads is killed -9 mid-run: every row and id it reported is on disk."""
    path = tmp_path / "journal.sqlite3"
    reported = kill_9_after(path, jobs)
    rows = [int(line.split()[1]) for line in reported if line.startswith("row ")]
    ids = [line.split()[1] for line in reported if line.startswith("job ")]
    db = sqlite3.connect(str(path))
    on_disk_rows = {row for (row,) in db.execute("SELECT id FROM jobs")}
    on_disk_ids = {job for (job,) in db.execute("SELECT job_id FROM jobs WHERE job_id IS NOT NULL")}
    db.close()
    assert set(rows) <= on_disk_rows, f"rows reported written but lost: {sorted(set(rows) - on_disk_rows)}"
    assert set(ids) <= on_disk_ids, f"job ids reported written but lost: {sorted(set(ids) - on_disk_ids)}"


def test_check_ready_between_groups_neither_deadlocks_nor_loses_a_write(tmp_path: Path) -> None:
    """``check_ready`` takes the write connection alone; writers queued meanwhile still commit, once each."""
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        stop = threading.Event()

        def checker() -> None:
            while not stop.is_set():
                journal.check_ready()

        thread = threading.Thread(target=checker)
        thread.start()
        try:
            outcomes = run_threads(8, lambda i: [journal.record_submit(gateway=GATEWAY, prompt=f"{i}-{k}", style=None,
                                                                       size=None, n=1) for k in range(25)])
        finally:
            stop.set()
            thread.join(30)
        rows = [row for rows in outcomes for row in rows]
        assert len(set(rows)) == 200 and len(journal.recent(500)) == 200


class Interrupted(Exception):
    pass


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="signals to a thread")
def test_a_writer_interrupted_by_a_signal_while_queued_does_not_stall_the_others(tmp_path: Path) -> None:
    """Ctrl-C reaches the main thread while its write waits behind a group: later writes still commit."""
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        interrupted = threading.Event()

        def trace(sql: str) -> None:
            if sql == "BEGIN IMMEDIATE" and not interrupted.is_set():
                interrupted.wait(30)  # the leader commits only after the main thread's wait was cut short

        journal._db.set_trace_callback(trace)
        main = threading.get_ident()

        def interrupt_once_queued() -> None:
            wait_until(lambda: len(journal._writes._pending) >= 1, what="the main thread queued")
            signal.pthread_kill(main, signal.SIGUSR1)

        def raise_interrupted(signum: int, frame: Any) -> None:
            raise Interrupted

        previous = signal.signal(signal.SIGUSR1, raise_interrupted)
        leader = threading.Thread(target=lambda: journal.record_submit(gateway=GATEWAY, prompt="leader", style=None,
                                                                        size=None, n=1))
        try:
            leader.start()
            wait_until(lambda: journal._writes._busy, what="a leader at work")
            threading.Thread(target=interrupt_once_queued, daemon=True).start()
            with pytest.raises(Interrupted):
                journal.record_submit(gateway=GATEWAY, prompt="interrupted", style=None, size=None, n=1)
        finally:
            interrupted.set()
            signal.signal(signal.SIGUSR1, previous)
            leader.join(30)
        later = run_threads(4, lambda i: journal.record_submit(gateway=GATEWAY, prompt=f"later {i}", style=None,
                                                               size=None, n=1))
        assert all(isinstance(row, int) for row in later), later
        assert {"leader", "later 0", "later 3"} <= {row.prompt for row in journal.recent(10)}


def test_a_group_that_succeeds_whole_runs_no_savepoints_and_a_failing_one_writes_each_row_once(
    tmp_path: Path,
) -> None:
    """Savepoints cost the leader two GIL round trips a write; they are used only to keep a failure its own."""
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        journal.record_submit(gateway=GATEWAY, prompt="taken", style=None, size=None, n=1, batch_key="line-1")
        statements, hold = hold_begins(journal)
        hold(4)
        whole = run_threads(5, lambda i: journal.record_submit(gateway=GATEWAY, prompt=f"whole {i}", style=None,
                                                               size=None, n=1))
        assert all(isinstance(row, int) for row in whole), whole
        assert sorted(groups(statements)) == [1, 4]
        assert not [sql for sql in statements if "SAVEPOINT" in sql], "a group that succeeded whole used savepoints"

        statements.clear()
        hold(4)

        def caller(i: int) -> Any:
            if i == 2:  # another run claimed this line: this caller alone fails, the group is run again
                return journal.record_submit(gateway=GATEWAY, prompt="again", style=None, size=None, n=1,
                                             batch_key="line-1", conflicts=lambda record: True)
            return journal.record_submit(gateway=GATEWAY, prompt=f"fine {i}", style=None, size=None, n=1)

        outcomes = run_threads(5, caller)
        assert isinstance(outcomes[2], LineAlreadySubmitted)
        assert sorted(groups(statements)) == [1, 4], "the four that succeeded still shared one commit"
        prompts = [row.prompt for row in journal.recent(50)]
        assert sorted(p for p in prompts if p.startswith("fine")) == ["fine 0", "fine 1", "fine 3", "fine 4"]
        assert "again" not in prompts


def _held_leader(journal: JobJournal) -> tuple[threading.Event, threading.Thread]:
    """A writer whose group waits at its BEGIN until the returned event is set."""
    go = threading.Event()

    def trace(sql: str) -> None:
        if sql == "BEGIN IMMEDIATE" and not go.is_set():
            go.wait(30)

    journal._db.set_trace_callback(trace)
    leader = threading.Thread(target=lambda: journal.record_submit(gateway=GATEWAY, prompt="leader", style=None,
                                                                    size=None, n=1), daemon=True)
    leader.start()
    wait_until(lambda: journal._writes._busy, what="a leader at work")
    return go, leader


def _done_job(journal: JobJournal, job_id: str) -> None:
    row = journal.record_submit(gateway=GATEWAY, prompt=job_id, style=None, size=None, n=1)
    journal.record_job_id(row, job_id, estimated_seconds=1, credits_used=300)


def _status_outside(path: Path, job_id: str) -> tuple[str, str | None]:
    outside = sqlite3.connect(str(path), timeout=30)
    try:
        return outside.execute("SELECT status, files FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    finally:
        outside.close()


def test_a_later_write_returns_at_once_and_is_told_only_once_its_row_is_committed(tmp_path: Path) -> None:
    """A batch's download thread goes on at once; the line is reported (``then``) only with its row on disk."""
    path = tmp_path / "journal.sqlite3"
    with JobJournal(path) as journal:
        _done_job(journal, "job-later")
        go, leader = _held_leader(journal)
        told: list[tuple[BaseException | None, tuple[str, str | None]]] = []
        heard = threading.Event()

        def then(failure: BaseException | None) -> None:
            told.append((failure, _status_outside(path, "job-later")))
            heard.set()

        returned = threading.Event()
        threading.Thread(target=lambda: (journal.mark_done("job-later", [{"url": "u"}], ["/x/a.png"], later=then),
                                         returned.set()), daemon=True).start()
        assert returned.wait(10), "the later write waited for the commit in progress"
        assert not told, "told before its row was committed"
        go.set()
        assert heard.wait(30)
        leader.join(30)
        assert told == [(None, ("done", '["/x/a.png"]'))]


def test_closing_the_journal_commits_the_later_writes_still_queued(tmp_path: Path) -> None:
    """``close`` takes the connection alone: a later write queued before it is committed first, not dropped."""
    path = tmp_path / "journal.sqlite3"
    journal = JobJournal(path)
    _done_job(journal, "job-queued")
    told: list[BaseException | None] = []
    go, leader = _held_leader(journal)
    journal.mark_done("job-queued", [{"url": "u"}], ["/x/b.png"], later=told.append)
    closing = threading.Thread(target=journal.close, daemon=True)
    closing.start()
    wait_until(lambda: len(journal._writes._pending) >= 2, what="the later write and the close queued")
    go.set()
    leader.join(30)
    closing.join(30)
    assert not closing.is_alive()
    assert told == [None]
    assert _status_outside(path, "job-queued") == ("done", '["/x/b.png"]')
