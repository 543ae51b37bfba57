"""The journal keeps every paid submit, through every state, across processes and upgrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from gptimg.jobs.journal import JobJournal
from gptimg.jobs.schema import MIGRATIONS


def test_journal_lives_in_gptimg_home(isolated_home: Path) -> None:
    with JobJournal() as journal:
        assert journal.path == isolated_home / "gptimg-data" / "journal.sqlite3"
    assert journal.path.exists()


def test_migrations_apply_once_and_are_recorded(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    JobJournal(path).close()
    JobJournal(path).close()  # re-opening must not re-run ALTER TABLE (it would fail)
    names = [row[0] for row in sqlite3.connect(path).execute("SELECT name FROM _migrations ORDER BY name")]
    assert names == [name for name, _ in MIGRATIONS]


def test_a_submit_is_recorded_before_it_has_a_job_id_then_follows_the_job(tmp_path: Path) -> None:
    with JobJournal(tmp_path / "j.sqlite3") as journal:
        row = journal.record_submit(gateway="https://gw.test", prompt="fox", style=None, size="1024x1024", n=1)
        (pending,) = journal.recent()
        assert (pending.status, pending.job_id) == ("submitting", None)
        journal.record_job_id(row, "abc123", estimated_seconds=150, credits_used=300)
        assert journal.get("abc123").status == "submitted"
        journal.mark_running("abc123")
        assert journal.get("abc123").status == "running"
        journal.mark_done("abc123", [{"url": "https://cdn.test/1.png"}], ["/out/fox-abc123-1.png"])
        done = journal.get("abc123")
        assert (done.status, done.items, done.files, done.credits_used) == (
            "done",
            [{"url": "https://cdn.test/1.png"}],
            ["/out/fox-abc123-1.png"],
            300,
        )
        journal.mark_running("abc123")  # a late poll answer must not reopen a finished job
        assert journal.get("abc123").status == "done"


def test_rows_left_submitting_become_unknown_when_a_process_gives_up(tmp_path: Path) -> None:
    with JobJournal(tmp_path / "j.sqlite3") as journal:
        journal.record_submit(gateway="https://gw.test", prompt="a", style=None, size=None, n=1, batch_key="k1")
        assert journal.abandon_submitting("interrupted") == 1
        (row,) = journal.for_batch_key("k1")
        assert (row.status, row.error) == ("unknown", "interrupted")


def test_abandoning_leaves_other_processes_submits_alone(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with JobJournal(path) as ours, JobJournal(path) as theirs:
        ours.record_submit(gateway="https://gw.test", prompt="a", style=None, size=None, n=1, batch_key="mine")
        theirs.record_submit(gateway="https://gw.test", prompt="b", style=None, size=None, n=1, batch_key="other")
        done = ours.record_submit(gateway="https://gw.test", prompt="c", style=None, size=None, n=1, batch_key="done")
        ours.record_job_id(done, "j-done", estimated_seconds=None, credits_used=300)
        assert ours.abandon_submitting("gave up") == 1
        status = {key: [row.status for row in ours.for_batch_key(key)] for key in ("mine", "other", "done")}
        assert status == {"mine": ["unknown"], "other": ["submitting"], "done": ["submitted"]}


def test_two_journal_handles_see_each_others_writes(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with JobJournal(path) as first, JobJournal(path) as second:
        row = first.record_submit(gateway="https://gw.test", prompt="fox", style=None, size=None, n=1)
        first.record_job_id(row, "j1", estimated_seconds=None, credits_used=None)
        assert second.get("j1") is not None
        second.ensure_job("j2", gateway="https://gw.test")
        assert {r.job_id for r in first.recent()} == {"j1", "j2"}


def test_the_schema_has_no_place_for_a_key(tmp_path: Path) -> None:
    with JobJournal(tmp_path / "j.sqlite3"):
        pass
    columns = {row[1] for row in sqlite3.connect(tmp_path / "j.sqlite3").execute("PRAGMA table_info(jobs)")}
    assert not {c for c in columns if "key" in c and c != "batch_key"}


def test_money_facts_are_fsynced_and_free_bookkeeping_is_not(tmp_path: Path) -> None:
    """A submit, its job id and a refusal commit under synchronous=FULL before the call returns;
    running/done/files (redone for free by a poll or a download) commit without their own fsync."""
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        statements: list[str] = []
        journal._db.set_trace_callback(statements.append)

        def mode_during(call, prefix: str) -> str:
            """The synchronous mode in force when ``call`` ran its statement starting with ``prefix``."""
            start = len(statements)
            call()
            at = next(i for i in range(start, len(statements)) if statements[i].startswith(prefix))
            modes = [s for s in statements[:at] if s.startswith("PRAGMA synchronous")]
            return modes[-1].split("=")[1] if modes else "FULL"  # opened with FULL

        rows: list[int] = []
        submit = lambda prompt: rows.append(journal.record_submit(  # noqa: E731
            gateway="https://gw.test", prompt=prompt, style=None, size=None, n=1))
        assert mode_during(lambda: submit("fox"), "INSERT INTO jobs") == "FULL"
        assert mode_during(lambda: journal.record_job_id(rows[0], "job1", estimated_seconds=1, credits_used=300),
                           "UPDATE jobs") == "FULL"
        assert mode_during(lambda: journal.mark_running("job1"), "UPDATE jobs") == "NORMAL"
        assert mode_during(lambda: journal.mark_done("job1", [{"url": "https://x"}], ["/tmp/x.png"]),
                           "UPDATE jobs") == "NORMAL"
        assert mode_during(lambda: submit("cat"), "INSERT INTO jobs") == "FULL"
        assert mode_during(lambda: journal.mark_error("job1", "boom"), "UPDATE jobs") == "NORMAL"
        assert mode_during(lambda: journal.mark_rejected(rows[1], "refused"), "UPDATE jobs") == "FULL"
        assert mode_during(lambda: journal.mark_unknown(rows[1], "cut off"), "UPDATE jobs") == "FULL"
        assert journal.get("job1").files == ["/tmp/x.png"]


def test_many_lines_rows_come_in_a_few_queries_and_match_one_query_per_line(tmp_path: Path) -> None:
    """Planning a re-run of a large manifest must not ask the journal once per line: the batch
    reader answers 1,200 keys in 3 queries, with exactly what the one-key reader gives."""
    with JobJournal(tmp_path / "j.sqlite3") as journal:
        for number in range(1200):
            for attempt in range(2 if number % 7 == 0 else 1):
                row = journal.record_submit(gateway="http://127.0.0.1:1", prompt=f"p{number}", style=None,
                                            size=None, n=1, batch_key=f"k{number}")
                journal.record_job_id(row, f"job-{number}-{attempt}", estimated_seconds=None, credits_used=None)
        keys = [f"k{number}" for number in range(1200)] + ["k3", "never-submitted"]
        queries: list[str] = []
        reads = journal._reads
        real_fetchall = reads.fetchall

        def counting_fetchall(sql: str, params: tuple = (), **options: bool) -> list:
            queries.append(sql)
            return real_fetchall(sql, params, **options)

        reads.fetchall = counting_fetchall  # type: ignore[method-assign]
        together = journal.for_batch_keys(keys)
        assert len(queries) == 3, f"{len(queries)} queries for 1,201 distinct keys"
        reads.fetchall = real_fetchall  # type: ignore[method-assign]
        for key in keys:
            one = journal.for_batch_key(key)
            assert [r.job_id for r in together.get(key, [])] == [r.job_id for r in one]
        assert [r.job_id for r in together["k7"]] == ["job-7-0", "job-7-1"], "oldest first"
        assert "never-submitted" not in together


def test_plan_rows_give_each_keys_rows_oldest_first(tmp_path: Path) -> None:
    """The planner takes a key's last row as its newest: rows of keys submitted in turns, and keys that sort
    against the order they were submitted in, still come oldest first within each key."""
    with JobJournal(tmp_path / "j.sqlite3") as journal:
        for attempt in range(3):
            for key in ("zz", "aa", "mm"):
                row = journal.record_submit(gateway="http://127.0.0.1:1", prompt=key, style=None, size=None, n=1,
                                            batch_key=key)
                journal.record_job_id(row, f"{key}-{attempt}", estimated_seconds=None, credits_used=None)
        rows = journal.plan_rows(["mm", "zz", "aa", "mm"])
    by_key: dict[str, list[str]] = {}
    for row in rows:
        by_key.setdefault(row[0], []).append(row[3])
    assert by_key == {key: [f"{key}-{attempt}" for attempt in range(3)] for key in ("aa", "mm", "zz")}
    assert len(rows) == 9, "each row once, however often its key is asked for"
