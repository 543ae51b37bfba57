"""A batch line is claimed once: the journal's check-and-insert, in one process and in two at once.

``record_submit`` claims a line's first submit in one statement (insert unless a row
holds the key) and reads and judges earlier rows only when there are some. These
tests hold both paths to the promise: never two paid rows for one line.
"""

from __future__ import annotations

import multiprocessing
import sys
from pathlib import Path

import pytest

from gptimg.errors import LineAlreadySubmitted
from gptimg.jobs.journal import JobJournal, JobRecord

GATEWAY = "http://127.0.0.1:9"
LINES = 40


def _paid_for(record: JobRecord) -> bool:
    """What a batch counts as a claim: anything but a refused submit."""
    return record.status != "rejected"


def _claim(journal: JobJournal, key: str) -> int | None:
    try:
        return journal.record_submit(gateway=GATEWAY, prompt=key, style=None, size=None, n=1, batch_key=key,
                                     conflicts=_paid_for)
    except LineAlreadySubmitted:
        return None


def test_a_line_is_claimed_only_when_no_earlier_row_counts_against_it(tmp_path: Path) -> None:
    judged: list[str] = []

    def conflicts(record: JobRecord) -> bool:
        judged.append(record.prompt)
        return _paid_for(record)

    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        # A neighbour whose key starts like this one's must not count against it.
        journal.record_submit(gateway=GATEWAY, prompt="neighbour", style=None, size=None, n=1, batch_key="line-10")
        fresh = journal.record_submit(gateway=GATEWAY, prompt="fresh", style=None, size=None, n=1,
                                      batch_key="line-1", conflicts=conflicts)
        assert judged == [], "a line with no earlier row has nothing to judge"
        with pytest.raises(LineAlreadySubmitted):
            journal.record_submit(gateway=GATEWAY, prompt="twice", style=None, size=None, n=1,
                                  batch_key="line-1", conflicts=conflicts)
        assert set(judged) == {"fresh"}  # a failed write is run again in a savepoint (group_commit.py): twice
        refused = journal.record_submit(gateway=GATEWAY, prompt="refused", style=None, size=None, n=1, batch_key="line-2")
        journal.mark_rejected(refused, "invalid_request: the gateway said no")
        again = journal.record_submit(gateway=GATEWAY, prompt="after a refusal", style=None, size=None, n=1,
                                      batch_key="line-2", conflicts=conflicts)
        rows = {record.prompt: record for record in journal.recent(10)}
    assert set(rows) == {"neighbour", "fresh", "refused", "after a refusal"}
    assert rows["fresh"].id == fresh and rows["fresh"].status == "submitting" and rows["fresh"].batch_key == "line-1"
    assert rows["after a refusal"].id == again and again > refused
    assert set(judged) == {"fresh", "refused"}


def _claim_all(path: str, keys: list[str], start: object, claimed: object) -> None:
    with JobJournal(Path(path)) as journal:
        start.wait(30)  # type: ignore[attr-defined]
        for key in keys:
            if _claim(journal, key) is not None:
                claimed.put(key)  # type: ignore[attr-defined]


@pytest.mark.e2e
@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_two_processes_claiming_the_same_lines_at_once_pay_for_each_line_once(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    keys = [f"line-{number}" for number in range(LINES)]
    with JobJournal(path) as journal:  # half the lines were refused once: their claim reads and judges rows
        for key in keys[::2]:
            journal.mark_rejected(journal.record_submit(gateway=GATEWAY, prompt=key, style=None, size=None, n=1,
                                                        batch_key=key), "refused")
    fork = multiprocessing.get_context("fork")
    start, claimed = fork.Barrier(2), fork.Queue()
    racers = [fork.Process(target=_claim_all, args=(str(path), order, start, claimed))
              for order in (keys, keys[::-1])]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(60)
        assert racer.exitcode == 0
    won = sorted(claimed.get(timeout=10) for _ in range(LINES))
    assert won == sorted(keys), "every line claimed exactly once between the two"
    assert claimed.empty()
    with JobJournal(path) as journal:
        rows = journal.for_batch_keys(keys)
    for key in keys:
        paid = [record for record in rows[key] if record.status != "rejected"]
        assert len(paid) == 1, (key, rows[key])
