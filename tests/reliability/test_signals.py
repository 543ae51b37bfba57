"""Ctrl-C and SIGTERM at every phase of ``gptimg generate``, as a real process.

Each phase is made deterministic by the proxy, not by sleeping: it holds the
request that marks the phase (the balance read before the submit, the first
poll, the download) and tells the test when the CLI is stuck there. After the
signal: the documented exit code, the way back named (``gptimg result <id>``),
nothing half-written under ``--out``, a journal row that is not left
``submitting``, and a ``gptimg result`` that finishes the job without paying again.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from gptimg.sandbox import SandboxGateway
from waiting import long_poll_reached, wait_until

from .conftest import GPTIMG, UNO, Cli, Ran, assert_only_complete_pngs, saved_files
from .faultproxy import Fault, FaultProxy, Seen

SIGNALS = [pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),
           pytest.param(signal.SIGTERM, 143, "terminated", id="SIGTERM")]


def interrupt(process: subprocess.Popen[str], sig: int) -> Ran:
    process.send_signal(sig)
    try:
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return Ran(process.returncode, stdout, stderr)


def phase_rule(phase: str, reached: threading.Event, release: threading.Event) -> Callable[[Seen], Fault | None]:
    """Hold the first request of ``phase`` until the test is done with the process."""

    def rule(seen: Seen) -> Fault | None:
        if reached.is_set():
            return None
        if phase == "before_submit" and seen.path == "/v1/auth/me":
            return Fault("hang", seconds=60, gate=release, reached=reached)
        if phase == "after_submit" and seen.tool == RESULT_TOOL:
            return Fault("hang", seconds=60, gate=release, reached=reached)
        if phase == "polling" and seen.tool == RESULT_TOOL:
            reached.set()  # forwarded as is: the sandbox itself holds this long-poll
        if phase == "downloading" and seen.path.startswith("/cdn/"):
            return Fault("hang", seconds=60, gate=release, reached=reached)
        return None

    return rule


@pytest.mark.e2e
@pytest.mark.parametrize("phase", ["before_submit", "after_submit", "polling", "downloading"])
@pytest.mark.parametrize(("sig", "exit_code", "error"), SIGNALS)
def test_a_signal_at_each_phase_exits_cleanly_and_the_job_can_be_finished(
    phase: str, sig: int, exit_code: int, error: str,
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    release: threading.Event, inproc: Callable[..., Ran], tmp_path: Path,
) -> None:
    sandbox = make_sandbox(delay=2.0 if phase == "polling" else 0.2)
    reached = threading.Event()
    proxy = make_proxy(sandbox.base_url, phase_rule(phase, reached, release))
    user = cli(proxy.base_url)
    email = f"{phase}@example.invalid"
    user.login(sandbox.create_account(email=email))
    credits_before = _credits(sandbox, email)
    out = tmp_path / "out"

    process = user.popen(*GPTIMG, "generate", "a lighthouse at dusk", "--yes", "--json", "--out", str(out))
    if not reached.wait(30):
        process.kill()
        raise AssertionError(f"the CLI never reached {phase}: {process.communicate()}")
    if phase == "polling":
        wait_until(long_poll_reached(sandbox), what="the sandbox holding the CLI's long-poll")
    ran = interrupt(process, sig)

    assert ran.code == exit_code, ran
    assert "Traceback" not in ran.err
    envelope = ran.json()
    assert envelope["success"] is False and envelope["error"] == error and envelope["exit_code"] == exit_code
    assert_only_complete_pngs(out)
    assert saved_files(out) == [], "nothing may be saved by an interrupted run"
    rows = user.journal_rows()

    if phase == "before_submit":
        assert rows == [] and proxy.calls(SUBMIT_TOOL) == []
        assert sandbox.stats()["submits"] == 0 and _credits(sandbox, email) == credits_before
        return

    [row] = rows
    job_id = row["job_id"]
    assert job_id and row["status"] != "submitting"
    assert envelope["job_id"] == job_id and f"gptimg result {job_id}" in envelope["hint"]
    assert f"gptimg result {job_id}" in ran.err

    release.set()
    resumed = inproc(user, "gptimg", "result", job_id, "--json")
    assert resumed.code == 0, resumed
    assert len(assert_only_complete_pngs(out)) == 1
    assert [Path(item["path"]).parent for item in resumed.json()["data"]["items"]] == [out]
    assert len(proxy.calls(SUBMIT_TOOL)) == 1 and sandbox.stats()["submits"] == 1
    assert user.journal_rows()[0]["status"] == "done"


@pytest.mark.e2e
def test_ctrl_c_during_the_submit_is_held_until_the_job_id_is_journaled(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    release: threading.Event, tmp_path: Path,
) -> None:
    # The submit reaches the gateway at once; its answer is held back for a second, and
    # Ctrl-C arrives in that second: the worst moment, when the credits are already spent.
    sandbox = make_sandbox(delay=0.2)
    forwarded = threading.Event()

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == SUBMIT_TOOL:
            return Fault("hold", seconds=1.0, reached=forwarded)
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="held@example.invalid"))

    process = user.popen(*GPTIMG, "generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))
    assert forwarded.wait(30), "the submit never went out"
    ran = interrupt(process, signal.SIGINT)

    assert ran.code == 130, ran
    [row] = user.journal_rows()
    assert row["job_id"] and row["status"] == "submitted"
    assert ran.json()["job_id"] == row["job_id"]
    assert f"gptimg result {row['job_id']}" in ran.err
    assert "Finishing the submit" in ran.err
    assert sandbox.stats()["submits"] == 1


@pytest.mark.e2e
def test_two_agent_logins_looping_at_once_lose_no_account(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli]
) -> None:
    # tests/unit/test_credentials.py races CredentialStore in two processes; this races the real CLI.
    sandbox = make_sandbox()
    user = cli(sandbox.base_url)
    rounds = 3
    keys = {who: [sandbox.create_account(email=f"{who}{i}@example.invalid") for i in range(rounds)]
            for who in ("a", "b")}
    loops = [
        subprocess.Popen(["sh", "-c", "; ".join(f'"$@" login --key {k} --compact >/dev/null || exit 1'
                                                for k in keys[who]), "sh", *UNO],
                         env=user.env, cwd=user.home, stdin=subprocess.DEVNULL)
        for who in ("a", "b")
    ]
    while any(loop.poll() is None for loop in loops):
        if user.credentials.exists():
            assert oct(user.credentials.stat().st_mode & 0o777) == oct(0o600)
            json.loads(user.credentials.read_text())  # atomic replace: never half-written
        time.sleep(0.01)
    assert [loop.returncode for loop in loops] == [0, 0]
    accounts = json.loads(user.credentials.read_text())
    assert sorted(a["email"] for a in accounts) == sorted(f"{w}{i}@example.invalid" for w in "ab" for i in range(rounds))
    # Sandbox accounts: the one active is active for its gateway (uno-cli's flag stays with real ones).
    assert sum(1 for a in accounts if a.get("active") or a.get("gateway_active")) == 1


def _credits(sandbox: SandboxGateway, email: str) -> int:
    return next(a["credits"] for a in sandbox.stats()["accounts"] if a["email"] == email)
