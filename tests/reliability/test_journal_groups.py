"""The journal's group commit, met where the user meets it: a batch whose journal is locked mid-run.

Several submits answer at once, so their job ids reach the journal in one group
commit. Another program holds the journal's write lock past the busy timeout:
the group's commit fails, and every paid job id of the group must still land in
``unjournaled-jobs.jsonl``, be named on the screen, and be fetched by the next run
without paying again.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Callable

import pytest

from gptimg.image_tool import SUBMIT_TOOL
from gptimg.jobs.fallback import read_jobs
from gptimg.sandbox import SandboxGateway
from waiting import wait_until

from .conftest import Cli, Ran, saved_files
from .faultproxy import Fault, FaultProxy, Seen
from .test_money_path import write_manifest

pytestmark = pytest.mark.e2e

LINES = 4


def test_a_batch_whose_journal_is_locked_when_its_submits_answer_keeps_every_paid_id(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    inproc: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In-process so the journal's 30 s busy timeout can be 1 s; the lock is another connection's.
    monkeypatch.setattr("gptimg.jobs.journal.BUSY_TIMEOUT_SECONDS", 1.0)
    sandbox = make_sandbox(delay=0.2)
    forwarded: list[threading.Event] = []
    locked, done = threading.Event(), threading.Event()
    guard = threading.Lock()

    def rule(seen: Seen) -> Fault | None:
        if seen.tool != SUBMIT_TOOL:
            return None
        reached = threading.Event()
        with guard:
            forwarded.append(reached)
        # The gateway takes (and charges) each submit at once; the answers wait until the journal is locked.
        return Fault("hold", seconds=60, gate=locked, reached=reached)

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="grouplock@example.invalid"))
    journal_path = user.data_dir / "journal.sqlite3"
    manifest = write_manifest(user, [f"a harbour {i}" for i in range(LINES)])
    out = user.home / "out"

    def lock_the_journal() -> None:
        def all_forwarded() -> bool:
            with guard:
                return len(forwarded) == LINES and all(event.is_set() for event in forwarded)

        wait_until(all_forwarded, timeout=60, what="every submit upstream")
        other = sqlite3.connect(str(journal_path), timeout=5, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()  # the four answers come back together, into a locked journal
        wait_until(lambda: len(read_jobs(user.data_dir)) >= LINES or done.is_set(), timeout=60,
                   what="every job id in the fallback file")
        other.execute("ROLLBACK")
        other.close()

    locker = threading.Thread(target=lock_the_journal, daemon=True)
    locker.start()
    try:
        ran = inproc(user, "gptimg", "batch", str(manifest), "--yes", "--concurrency", str(LINES),
                     "--out", str(out))
    finally:
        done.set()
        locked.set()
        locker.join(30)

    assert "Traceback" not in ran.err
    assert ran.code != 0, ran
    charged = sandbox.stats()["submits"]
    assert charged == LINES
    kept = {entry["job_id"] for entry in read_jobs(user.data_dir)}
    assert len(kept) == LINES, f"paid job ids lost: {charged} charged, {len(kept)} kept"
    for job_id in kept:
        assert job_id in ran.err + ran.out, f"{job_id} was not shown"
    assert all(row["job_id"] is None for row in user.journal_rows()), "the lock was held: nothing reached the rows"

    again = inproc(user, "gptimg", "batch", str(manifest), "--yes", "--concurrency", str(LINES), "--out", str(out))
    assert again.code == 0, again
    assert sandbox.stats()["submits"] == LINES, "the re-run paid again"
    from e2e.conftest import png_size

    images = [path for path in saved_files(out) if path.suffix == ".png"]
    assert len(images) == LINES and all(png_size(path.read_bytes()) for path in images)
    assert {row["job_id"] for row in user.journal_rows()} == kept
