"""Issue #10's money path, tried as a hostile reviewer would: every paid job survives every fault.

Real ``gptimg`` processes (or the real CLI in-process where a constant must be
shortened) against a loopback gateway that misbehaves at the worst moment: a
signal while batch submits are in flight, a journal that is locked, damaged or
from a newer gptimg, nonsense numbers and duplicate ids in the submit's answer,
a passing ``job_not_found``, a line the gateway failed, two processes at once.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from gptimg.sandbox import SandboxGateway

from .conftest import GPTIMG, Cli, Ran, assert_only_complete_pngs, saved_files
from .faultproxy import Fault, FaultProxy, Seen
from .scripted import Answer, ScriptedGateway

pytestmark = pytest.mark.e2e

KEY = "uno_money_path_key_0123456789"


def finish(process: subprocess.Popen[str], timeout: float = 90) -> Ran:
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Ran(process.returncode, stdout, stderr)


def signal_and_finish(process: subprocess.Popen[str], signals: list[int], timeout: float = 90) -> Ran:
    """Send each signal only once the process has said it handled the one before.

    Two identical signals sent back to back can reach Python's handler as one (CPython keeps a
    single "tripped" flag per signal), so "two Ctrl-C" must be two separate presses, as a person's are.
    """
    assert process.stderr is not None
    lines: list[str] = []
    said = threading.Event()

    def read() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if any(word in line for word in ("Stopping", "Waiting up to", "Leaving", "Stopped")):
                said.set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for number in signals:
            said.clear()
            process.send_signal(number)
            assert said.wait(30), f"no answer on stderr to signal {number}"
        stdout = process.stdout.read() if process.stdout is not None else ""
        process.wait(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    reader.join(5)
    return Ran(process.returncode, stdout, "".join(lines))


def write_manifest(user: Cli, prompts: list[str]) -> Path:
    manifest = user.home / "manifest.jsonl"
    manifest.write_text("".join(json.dumps({"prompt": p, "name": f"line-{i}"}) + "\n" for i, p in enumerate(prompts)))
    return manifest


# --- 1. a signal while batch submits are in flight -------------------------------------------------


@pytest.mark.parametrize(("signals", "exit_code"), [([signal.SIGTERM], 143), ([signal.SIGINT, signal.SIGINT], 130)],
                         ids=["SIGTERM", "two-ctrl-c"])
def test_a_batch_stopped_while_submits_are_in_flight_journals_and_names_every_paid_job(
    signals: list[int], exit_code: int,
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
) -> None:
    sandbox = make_sandbox(delay=30)  # the jobs stay running: only the submits matter here
    upstream: list[threading.Event] = []
    lock = threading.Lock()

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == SUBMIT_TOOL:
            reached = threading.Event()
            with lock:
                upstream.append(reached)
            # The gateway takes (and charges) the submit at once; its answer is 6 s late (long enough that a
            # loaded machine still delivers both signals while the submits are in flight).
            return Fault("hold", seconds=6, reached=reached)
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="stopped@example.invalid"))
    manifest = write_manifest(user, [f"a lighthouse {i}" for i in range(2)])
    process = user.popen(*GPTIMG, "batch", str(manifest), "--yes", "--concurrency", "2", "--out",
                         str(user.home / "out"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with lock:
            if len(upstream) == 2 and all(event.is_set() for event in upstream):
                break
        time.sleep(0.02)
    else:
        process.kill()
        raise AssertionError(f"the submits never went out: {process.communicate()}")
    ran = signal_and_finish(process, signals)

    assert ran.code == exit_code, ran
    assert "Traceback" not in ran.err
    assert "Waiting up to" in ran.err
    rows = user.journal_rows()
    charged = sandbox.stats()["submits"]
    assert charged == 2 and len(rows) == 2
    for row in rows:
        assert row["job_id"] and row["status"] == "submitted", row
        assert row["job_id"] in ran.err


def test_generate_stopped_by_sigterm_during_the_submit_keeps_the_job_and_exits_143(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(delay=30)
    forwarded = threading.Event()
    proxy = make_proxy(sandbox.base_url,
                       lambda seen: Fault("hold", seconds=4, reached=forwarded) if seen.tool == SUBMIT_TOOL else None)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="term@example.invalid"))
    process = user.popen(*GPTIMG, "generate", "a red fox", "--yes", "--out", str(tmp_path / "out"))
    assert forwarded.wait(30), "the submit never went out"
    process.send_signal(signal.SIGTERM)
    ran = finish(process)

    assert ran.code == 143, ran
    [row] = user.journal_rows()
    assert row["job_id"] and row["status"] == "submitted"
    assert f"gptimg result {row['job_id']}" in ran.err and "up to 60 s" in ran.err


# --- 2. a failure between the submit's answer and the journal -------------------------------------


def test_a_journal_locked_when_the_submit_answers_keeps_the_id_in_the_fallback_and_result_finishes_it(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    inproc: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    # In-process so the journal's 30 s busy timeout can be 1 s; the lock is another connection's.
    monkeypatch.setattr("gptimg.jobs.journal.BUSY_TIMEOUT_SECONDS", 1.0)
    sandbox = make_sandbox(delay=0.2)
    forwarded, locked, done = threading.Event(), threading.Event(), threading.Event()
    proxy = make_proxy(sandbox.base_url,
                       lambda seen: Fault("hold", seconds=30, gate=locked, reached=forwarded)
                       if seen.tool == SUBMIT_TOOL else None)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="locked@example.invalid"))
    journal_path = user.data_dir / "journal.sqlite3"

    def lock_the_journal() -> None:
        forwarded.wait(30)
        other = sqlite3.connect(str(journal_path), timeout=5, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        locked.set()
        done.wait(60)
        other.execute("ROLLBACK")
        other.close()

    locker = threading.Thread(target=lock_the_journal, daemon=True)
    locker.start()
    out = tmp_path / "out"
    try:
        ran = inproc(user, "gptimg", "generate", "a red fox", "--yes", "--json", "--out", str(out))
    finally:
        done.set()
        locker.join(10)

    assert "Traceback" not in ran.err
    envelope = ran.json()
    job_id = envelope["job_id"]
    assert ran.code == 1 and envelope["error"] == "journal_unavailable", ran
    assert f"gptimg result {job_id}" in envelope["hint"] and str(journal_path) in envelope["message"]
    assert f"Submitted job {job_id}" in ran.err, "the id is shown before the journal is tried"
    kept = (user.data_dir / "unjournaled-jobs.jsonl").read_text()
    assert job_id in kept
    listed = inproc(user, "gptimg", "jobs", "--json")
    assert job_id in [row["job_id"] for row in listed.json()["data"]]
    resumed = inproc(user, "gptimg", "result", job_id, "--json")
    assert resumed.code == 0, resumed
    assert len(assert_only_complete_pngs(out)) == 1
    assert sandbox.stats()["submits"] == 1


NONSENSE = ('{"data": {"status": "pending", "job_id": "0b84b8f0f0c8", "estimated_seconds": 1e999},'
            ' "meta": {"credits_used": 1e999}}')


def test_nonsense_numbers_in_the_submit_answer_never_turn_a_paid_job_into_a_crash(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path,
) -> None:
    scripted = make_scripted({f"CALL {SUBMIT_TOOL}": Answer(200, NONSENSE, content_type="application/json")})
    user = cli(scripted.base_url)
    user.login(KEY)
    ran = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))

    assert ran.code == 0, ran
    assert "Traceback" not in ran.err
    assert len(assert_only_complete_pngs(tmp_path / "out")) == 1
    [row] = user.journal_rows()
    assert (row["job_id"], row["status"]) == ("0b84b8f0f0c8", "done")


def test_a_job_id_the_journal_already_holds_is_shown_and_fetched_not_a_crash(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path,
) -> None:
    scripted = make_scripted()  # answers every submit with the same job id
    user = cli(scripted.base_url)
    user.login(KEY)
    first = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))
    again = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))

    assert first.code == 0, first
    assert again.code == 0, again
    assert "Traceback" not in again.err and scripted.job_id in again.err
    first_row, second_row = user.journal_rows()
    assert first_row["job_id"] == scripted.job_id and second_row["job_id"] is None
    assert second_row["status"] == "unknown" and scripted.job_id in second_row["error"]
    assert len(assert_only_complete_pngs(tmp_path / "out")) == 1


# --- 4. batch: a passing job_not_found, and a line the gateway failed -------------------------------


def test_a_passing_job_not_found_while_a_batch_polls_is_fetched_by_the_rerun_without_paying_again(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
) -> None:
    sandbox = make_sandbox(delay=0.2)
    forgot = {"left": 1}

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and forgot["left"] > 0:
            forgot["left"] -= 1
            return Fault("status", status=404, body={"error": "job_not_found", "message": "No such job"})
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="forgot@example.invalid"))
    manifest = write_manifest(user, ["a red fox"])
    out = user.home / "out"

    first = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))
    assert first.code == 7, first
    line = json.loads(first.out.splitlines()[0])
    assert line["status"] == "unknown" and line["job_id"] and line["code"] == "job_not_found"
    rerun = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))

    assert rerun.code == 0, rerun
    assert json.loads(rerun.out.splitlines()[0])["job_id"] == line["job_id"]
    assert len([path for path in saved_files(out) if path.suffix == ".png"]) == 1
    assert sandbox.stats()["submits"] == 1


def test_a_line_the_gateway_failed_is_paid_for_again_only_with_resubmit_failed(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli],
) -> None:
    sandbox = make_sandbox(delay=0.2)
    user = cli(sandbox.base_url)
    user.login(sandbox.create_account(email="failed@example.invalid"))
    manifest = write_manifest(user, ["a fox [sandbox:fail]"])
    out = user.home / "out"

    first = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))
    rerun = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))
    assert (first.code, rerun.code) == (5, 5), (first, rerun)
    assert sandbox.stats()["submits"] == 1, "a plain re-run never pays again"
    assert "--resubmit-failed" in json.loads(rerun.out.splitlines()[0])["hint"]

    again = user.gptimg("batch", str(manifest), "--yes", "--json", "--resubmit-failed", "--out", str(out))
    assert again.code == 5, again
    assert sandbox.stats()["submits"] == 2


# --- 5. the journal is checked before the confirmation ----------------------------------------------


def newer_journal(user: Cli) -> Path:
    """A journal as a future gptimg leaves it: an extra migration and an extra column."""
    from gptimg.jobs import JobJournal

    path = user.data_dir / "journal.sqlite3"
    JobJournal(path).close()
    with sqlite3.connect(str(path)) as db:
        db.execute("ALTER TABLE jobs ADD COLUMN future TEXT")
        db.execute("INSERT INTO _migrations VALUES ('m999_future', '2030-01-01T00:00:00Z')")
        db.execute("INSERT INTO jobs (created_at, updated_at, status, job_id, gateway, prompt, future)"
                   " VALUES ('2030-01-01T00:00:00Z', '2030-01-01T00:00:00Z', 'done', 'feedc0ffee00', 'x', 'old', 'y')")
    return path


def test_a_journal_from_a_newer_gptimg_stops_generate_before_anything_is_sent(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
) -> None:
    scripted = make_scripted()
    user = cli(scripted.base_url)
    user.login(KEY)
    path = newer_journal(user)

    ran = user.gptimg("generate", "a red fox", "--yes", "--json")
    assert ran.code == 1, ran
    envelope = ran.json()
    assert envelope["error"] == "journal_unavailable" and str(path) in envelope["message"]
    assert "newer gptimg" in envelope["message"] and "Traceback" not in ran.err
    assert scripted.seen(f"CALL {SUBMIT_TOOL}") == []

    listed = user.gptimg("jobs", "--json")
    assert listed.code == 0, listed
    assert [row["job_id"] for row in listed.json()["data"]] == ["feedc0ffee00"] and "newer gptimg" in listed.err
    fetched = user.gptimg("result", "feedc0ffee00", "--json")
    assert fetched.code == 1 and fetched.json()["error"] == "journal_unavailable", fetched
    assert "Traceback" not in fetched.err


@pytest.mark.parametrize("fault", ["damaged", "locked"])
def test_a_damaged_or_locked_journal_stops_a_batch_before_the_confirmation(
    fault: str, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
) -> None:
    scripted = make_scripted()
    user = cli(scripted.base_url)
    user.login(KEY)
    path = user.data_dir / "journal.sqlite3"
    path.parent.mkdir(parents=True)
    holder = None
    if fault == "damaged":
        path.write_bytes(b"this is not a database, it was a photo once" * 100)
    else:
        from gptimg.jobs import JobJournal

        JobJournal(path).close()
        holder = sqlite3.connect(str(path), isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
    try:
        ran = user.gptimg("batch", str(write_manifest(user, ["a red fox"])), "--yes", "--json")
    finally:
        if holder is not None:
            holder.close()
    assert ran.code == 1, ran
    envelope = ran.json()
    assert envelope["error"] == "journal_unavailable" and str(path) in envelope["message"]
    assert envelope["hint"] and "Traceback" not in ran.err
    assert scripted.seen(f"CALL {SUBMIT_TOOL}") == []


# --- 10. two processes, one fresh journal; two processes, one job -----------------------------------

def test_a_fresh_journal_being_created_by_another_process_is_waited_for_not_a_crash(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
) -> None:
    # The race of two processes creating one journal, made deterministic: another process is
    # half-way through creating it (a write lock on the new file, before its switch to WAL),
    # and there switching to WAL answered "database is locked" at once, without waiting.
    user = cli(make_scripted().base_url)
    path = user.data_dir / "journal.sqlite3"
    path.parent.mkdir(parents=True)
    creator = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    creator.execute("BEGIN IMMEDIATE")
    creator.execute("CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    # The creator finishes a moment later; that moment cannot be an event the CLI could see.
    finishing = threading.Timer(1.5, lambda: creator.execute("COMMIT"))
    finishing.start()
    try:
        ran = user.gptimg("jobs", "--json")
    finally:
        finishing.join()
        creator.close()
    assert ran.code == 0, ran
    assert "Traceback" not in ran.err and ran.json()["data"] == []


def test_two_processes_fetching_one_job_at_once_save_each_image_once(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    release: threading.Event, tmp_path: Path,
) -> None:
    sandbox = make_sandbox(delay=0.2)
    first_download = threading.Event()

    def rule(seen: Seen) -> Fault | None:
        if seen.path.startswith("/cdn/") and not first_download.is_set():
            return Fault("hang", seconds=2.0, reached=first_download)
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="twice@example.invalid"))
    submitted = user.gptimg("generate", "a red fox", "--yes", "--no-wait", "--json")
    job_id = submitted.json()["data"]["job_id"]
    out = tmp_path / "out"

    one = user.popen(*GPTIMG, "result", job_id, "--out", str(out))
    assert first_download.wait(30), "the first fetch never reached the download"
    two = user.popen(*GPTIMG, "result", job_id, "--out", str(out))
    ran_one, ran_two = finish(one), finish(two)

    assert (ran_one.code, ran_two.code) == (0, 0), (ran_one, ran_two)
    assert len(saved_files(out)) == 1
    assert_only_complete_pngs(out)


# --- stuck rows -------------------------------------------------------------------------------------


def test_a_row_left_submitting_by_a_crash_is_listed_as_unknown_with_what_to_do(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
) -> None:
    from gptimg.jobs import JobJournal

    user = cli(make_scripted().base_url)
    path = user.data_dir / "journal.sqlite3"
    JobJournal(path).close()
    with sqlite3.connect(str(path)) as db:
        db.execute("INSERT INTO jobs (created_at, updated_at, status, gateway, prompt)"
                   " VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'submitting', 'x', 'a fox')")
    listed = user.gptimg("jobs", "--json")
    assert listed.code == 0, listed
    [row] = listed.json()["data"]
    assert row["status"] == "unknown" and "may have been charged" in row["error"]
