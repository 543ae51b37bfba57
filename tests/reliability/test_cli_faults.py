"""The pipeline faults again, one level up: ``python -m gptimg generate`` as a real process.

The pipeline tests prove the core keeps its promises; these prove the CLI does not
lose them on the way out: the exit code, the envelope (job id, hint), the journal
row, and that the paid submit went out exactly once.
"""

from __future__ import annotations

import json
import random
import threading
from pathlib import Path
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from gptimg.imagetypes import png_dimensions
from gptimg.sandbox import SandboxGateway
from waiting import wait_until

from .conftest import GPTIMG, Cli, assert_only_complete_pngs
from .faultproxy import Fault, FaultProxy, Seen


def wait_for_job_id(cli: Cli, timeout: float = 30) -> str:
    """The job id once the journal has it (the row is written before the submit leaves)."""

    def job_id() -> str | None:
        return next((str(row["job_id"]) for row in cli.journal_rows() if row["job_id"]), None)

    return wait_until(job_id, timeout=timeout, what="a job id in the journal")


@pytest.mark.e2e
def test_generate_survives_thirty_percent_poll_faults_with_one_submit(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    tmp_path: Path,
) -> None:
    # The sandbox injects 502s and 429s (Retry-After: 1) into 30% of polls; the proxy adds
    # 503, 504 and connection resets to 30% more, and always breaks the first poll.
    sandbox = make_sandbox(delay=1.0, fail_rate=0.3, seed=11, retry_after=1)
    rng = random.Random(5)
    faults = [Fault("status", status=503), Fault("status", status=504), Fault("reset")]
    injected: list[str] = []

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and (not injected or rng.random() < 0.3):
            fault = rng.choice(faults)
            injected.append(fault.kind if fault.kind == "reset" else str(fault.status))
            return fault
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="faults@example.invalid"))
    out = tmp_path / "out"

    ran = user.gptimg("--base-url", proxy.base_url, "generate", "a lighthouse at dusk", "-n", "2",
                      "--size", "1536x1024", "--yes", "--json", "--out", str(out), timeout=90)

    assert ran.code == 0, ran
    envelope = ran.json()
    assert envelope["success"] is True and envelope["data"]["status"] == "done"
    assert injected, "the proxy must actually have broken a poll"
    assert len(proxy.calls(RESULT_TOOL)) > len(injected), "every broken poll was asked again"
    assert len(proxy.calls(SUBMIT_TOOL)) == 1 and sandbox.stats()["submits"] == 1
    files = assert_only_complete_pngs(out)
    assert len(files) == 2 and all(png_dimensions(f.read_bytes()) == (1536, 1024) for f in files)
    [row] = user.journal_rows()
    assert row["status"] == "done" and row["job_id"] == envelope["data"]["job_id"]
    assert "Traceback" not in ran.err


@pytest.mark.e2e
def test_a_gateway_that_forgot_the_job_exits_5_with_the_job_id_and_no_resubmit(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    tmp_path: Path,
) -> None:
    # A restarted gateway answers every poll for the old job exactly as the sandbox does for an unknown one.
    sandbox = make_sandbox(delay=0.5)

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL:
            job_id = seen.json()["arguments"]["job_id"]
            return Fault("status", status=404, body={"error": "job_not_found", "message": f"No job {job_id!r}."})
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="forgot@example.invalid"))

    ran = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))

    assert ran.code == 5, ran
    envelope = ran.json()
    [row] = user.journal_rows()
    assert envelope["error"] == "job_not_found" and envelope["job_id"] == row["job_id"]
    assert row["job_id"] in envelope["message"]
    assert row["status"] == "error"
    assert len(proxy.calls(SUBMIT_TOOL)) == 1 and sandbox.stats()["submits"] == 1
    assert "Traceback" not in ran.err


@pytest.mark.e2e
def test_a_submit_dropped_after_sending_exits_7_and_is_never_resent(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    tmp_path: Path,
) -> None:
    sandbox = make_sandbox(delay=0.5)

    def rule(seen: Seen) -> Fault | None:
        return Fault("reset", forward_first=True) if seen.tool == SUBMIT_TOOL else None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="dropped@example.invalid"))

    ran = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path / "out"))

    assert ran.code == 7, ran
    envelope = ran.json()
    assert envelope["success"] is False and envelope["error"] == "outcome_unknown"
    assert "gptimg jobs" in envelope["hint"]
    [row] = user.journal_rows()
    assert row["status"] == "unknown" and row["job_id"] is None
    assert len(proxy.calls(SUBMIT_TOOL)) == 1, "a doubtful submit must never be resent"
    assert sandbox.stats()["submits"] == 1  # it did arrive: that is why it may have been charged
    assert proxy.calls(RESULT_TOOL) == []
    assert "Traceback" not in ran.err

    human = user.gptimg("jobs")
    assert human.code == 0 and "unknown" in human.out


@pytest.mark.e2e
def test_an_out_folder_that_becomes_unusable_names_the_job_and_result_fetches_it(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
    release: threading.Event, tmp_path: Path,
) -> None:
    # --out is fine when checked before the spend, then a regular file takes the place of its
    # parent (chmod would not stop root). The first poll is held until that has happened.
    sandbox = make_sandbox(delay=0.2)
    polled = threading.Event()

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and not polled.is_set():
            return Fault("hang", seconds=30, gate=release, reached=polled)
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="full@example.invalid"))
    out = tmp_path / "blocker" / "out"

    process = user.popen(*GPTIMG, "generate", "a red fox", "--yes", "--json", "--out", str(out))
    try:
        assert polled.wait(30), "the CLI never polled"
        (tmp_path / "blocker").write_bytes(b"not a folder")
        release.set()
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    [row] = user.journal_rows()
    job_id = row["job_id"]
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr
    envelope = json.loads(stdout)
    assert envelope["error"] == "output_not_writable" and envelope["job_id"] == job_id
    assert f"gptimg result {job_id}" in envelope["hint"]
    assert row["status"] == "done" and not json.loads(row["files"] or "[]")

    good = tmp_path / "good"
    fetched = user.gptimg("result", job_id, "--out", str(good), "--json")
    assert fetched.code == 0, fetched
    assert [Path(item["path"]).parent for item in fetched.json()["data"]["items"]] == [good]
    assert len(assert_only_complete_pngs(good)) == 1
    assert len(proxy.calls(SUBMIT_TOOL)) == 1 and sandbox.stats()["submits"] == 1

