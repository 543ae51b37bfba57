"""The job pipeline against a gateway that misbehaves: every paid job still ends well or is reported.

After each fault: the job finishes (or is reported with its id), the images are
real PNGs, the submit happened exactly once, and the journal agrees.
"""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from gptimg import errors
from gptimg.gateway import GatewayClient, RetryPolicy, tool_calls
from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from gptimg.imagetypes import png_dimensions
from gptimg.jobs import JobJournal, SilentObserver, finish_job, submit_job
from gptimg.jobs import pipeline as pipeline_module
from gptimg.params import build_request
from gptimg.sandbox import SandboxConfig, SandboxGateway

from .faultproxy import Fault, FaultProxy, Seen


@pytest.fixture
def sandbox() -> Iterator[SandboxGateway]:
    with SandboxGateway(SandboxConfig(delay=0.6)) as sb:
        yield sb


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JobJournal]:
    with JobJournal(tmp_path / "journal.sqlite3") as j:
        yield j


def make_client(url: str, key: str, delays: list[float] | None = None) -> GatewayClient:
    def sleep(seconds: float) -> None:
        if delays is not None:
            delays.append(seconds)

    policy = RetryPolicy(max_attempts=12, base_delay=0.01, max_delay=0.02, sleep=sleep, rng=random.Random(3))
    return GatewayClient(url, key, retry=policy)


def png_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if not p.name.startswith("."))


def run_job(client: GatewayClient, journal: JobJournal, out: Path, n: int = 1, timeout: float = 30):
    job = submit_job(client, journal, build_request("a lighthouse at dusk", n=n, size="1024x1536"))
    return job, finish_job(client, journal, job.job_id, out_dir=out, timeout=timeout, observer=SilentObserver())


def test_polls_survive_thirty_percent_gateway_errors_and_resets(sandbox, journal, tmp_path):
    rng = random.Random(7)
    faults = [Fault("status", status=502), Fault("status", status=503), Fault("status", status=504), Fault("reset")]

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and rng.random() < 0.3:
            return rng.choice(faults)
        return None

    key = sandbox.create_account(email="faults@example.invalid")
    monkey_wait = pytest.MonkeyPatch()
    monkey_wait.setattr(pipeline_module, "MAX_WAIT_SECONDS", 0)  # many short polls, so faults really hit
    monkey_wait.setattr(pipeline_module, "MIN_POLL_INTERVAL", 0.02)
    try:
        with FaultProxy(sandbox.base_url, rule) as proxy:
            client = make_client(proxy.base_url, key)
            job, outcome = run_job(client, journal, tmp_path / "out", n=2)
    finally:
        monkey_wait.undo()

    assert len(proxy.calls(RESULT_TOOL)) > 5, "the test must actually exercise several polls"
    assert len(proxy.calls(SUBMIT_TOOL)) == 1
    assert sandbox.stats()["submits"] == 1
    files = png_files(tmp_path / "out")
    assert len(files) == 2
    assert all(png_dimensions(f.read_bytes()) == (1024, 1536) for f in files)
    record = journal.get(job.job_id)
    assert record.status == "done"
    assert sorted(record.files) == sorted(str(f) for f in files)


def test_rate_limited_polls_wait_exactly_as_retry_after_says(sandbox, journal, tmp_path):
    limited = {"left": 2}

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and limited["left"] > 0:
            limited["left"] -= 1
            return Fault("status", status=429, headers={"Retry-After": "2"}, body={"error": "rate_limit_exceeded"})
        return None

    key = sandbox.create_account(email="ratelimit@example.invalid")
    delays: list[float] = []
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key, delays)
        _, outcome = run_job(client, journal, tmp_path / "out")
    assert delays == [2.0, 2.0]
    assert outcome.status == "done"
    assert sandbox.stats()["submits"] == 1


def test_a_poll_hanging_past_its_read_timeout_is_asked_again(sandbox, journal, tmp_path, monkeypatch):
    monkeypatch.setattr(pipeline_module, "MAX_WAIT_SECONDS", 0)
    monkeypatch.setattr(pipeline_module, "MIN_POLL_INTERVAL", 0.05)
    monkeypatch.setattr(tool_calls, "POLL_READ_MARGIN", 0.4)
    hung = {"done": False}

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL and not hung["done"]:
            hung["done"] = True
            return Fault("hang", seconds=1.5)
        return None

    key = sandbox.create_account(email="hang@example.invalid")
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key)
        _, outcome = run_job(client, journal, tmp_path / "out")
    assert hung["done"]
    assert outcome.status == "done"
    assert len(proxy.calls(RESULT_TOOL)) >= 2
    assert sandbox.stats()["submits"] == 1


def test_a_gateway_that_forgot_the_job_is_reported_with_its_id_and_not_resubmitted(sandbox, journal, tmp_path):
    restarted = {"polls": 0}

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == RESULT_TOOL:
            restarted["polls"] += 1
            return Fault("status", status=404, body={"error": "job_not_found", "message": "No such job"})
        return None

    key = sandbox.create_account(email="restart@example.invalid")
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key)
        job = submit_job(client, journal, build_request("a red fox"))
        with pytest.raises(errors.JobNotFound) as caught:
            finish_job(client, journal, job.job_id, out_dir=tmp_path / "out", timeout=10, observer=SilentObserver())
    assert job.job_id in caught.value.message
    assert caught.value.details["job_id"] == job.job_id
    assert caught.value.exit_code == errors.EXIT_JOB_FAILED
    assert len(proxy.calls(SUBMIT_TOOL)) == 1
    assert restarted["polls"] == 1, "a job the gateway does not know is not polled forever"
    assert journal.get(job.job_id).status == "error"


def test_a_cut_off_download_is_fetched_again_and_never_left_under_its_final_name(sandbox, journal, tmp_path):
    cut = {"left": 2}

    def rule(seen: Seen) -> Fault | None:
        if seen.path.startswith("/cdn/") and cut["left"] > 0:
            cut["left"] -= 1
            return Fault("truncate", keep=300)
        return None

    key = sandbox.create_account(email="cut@example.invalid")
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key)
        _, outcome = run_job(client, journal, tmp_path / "out")
        downloads = [s for s in proxy.seen if s.path.startswith("/cdn/")]
    assert cut["left"] == 0 and len(downloads) == 3
    files = png_files(tmp_path / "out")
    assert len(files) == 1
    assert png_dimensions(files[0].read_bytes()) == (1024, 1536)
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_a_download_that_never_completes_leaves_no_file_and_the_job_fetchable(sandbox, journal, tmp_path):
    def always_cut(seen: Seen) -> Fault | None:
        return Fault("truncate", keep=200) if seen.path.startswith("/cdn/") else None

    key = sandbox.create_account(email="cut2@example.invalid")
    out = tmp_path / "out"
    with FaultProxy(sandbox.base_url, always_cut) as proxy:
        client = make_client(proxy.base_url, key)
        job = submit_job(client, journal, build_request("a red fox"))
        with pytest.raises(errors.DownloadFailed) as caught:
            finish_job(client, journal, job.job_id, out_dir=out, timeout=10, observer=SilentObserver())
        assert caught.value.details["job_id"] == job.job_id
        assert list(out.iterdir()) == []
        proxy.rule = lambda seen: None
        outcome = finish_job(client, journal, job.job_id, out_dir=out, timeout=10, observer=SilentObserver())
    assert len(proxy.calls(SUBMIT_TOOL)) == 1
    assert [p.name for p in png_files(out)] == [outcome.images[0].path.name]


def test_an_unusable_out_folder_is_a_clear_error_and_the_job_stays_fetchable(sandbox, journal, tmp_path):
    key = sandbox.create_account(email="out@example.invalid")
    client = make_client(sandbox.base_url, key)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    job = submit_job(client, journal, build_request("a red fox"))
    with pytest.raises(errors.OutputNotWritable) as caught:
        finish_job(client, journal, job.job_id, out_dir=blocker / "out", timeout=10, observer=SilentObserver())
    assert f"gptimg result {job.job_id}" in caught.value.hint
    good = tmp_path / "good"
    outcome = finish_job(client, journal, job.job_id, out_dir=good, timeout=10, observer=SilentObserver())
    assert outcome.images[0].path.parent == good
    assert sandbox.stats()["submits"] == 1


def test_a_full_disk_while_saving_leaves_no_partial_file(sandbox, journal, tmp_path, monkeypatch):
    import gptimg.jobs.download as download_module

    key = sandbox.create_account(email="full@example.invalid")
    client = make_client(sandbox.base_url, key)
    job = submit_job(client, journal, build_request("a red fox"))

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(download_module.os, "fsync", full)
    out = tmp_path / "out"
    with pytest.raises(errors.OutputNotWritable):
        finish_job(client, journal, job.job_id, out_dir=out, timeout=10, observer=SilentObserver())
    assert list(out.iterdir()) == []
    monkeypatch.undo()
    outcome = finish_job(client, journal, job.job_id, out_dir=out, timeout=10, observer=SilentObserver())
    assert outcome.status == "done" and len(png_files(out)) == 1


def test_a_submit_whose_connection_drops_after_sending_is_unknown_and_never_resent(sandbox, journal, tmp_path):
    def rule(seen: Seen) -> Fault | None:
        return Fault("reset", forward_first=True) if seen.tool == SUBMIT_TOOL else None

    key = sandbox.create_account(email="drop@example.invalid")
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key)
        with pytest.raises(errors.SubmitOutcomeUnknown) as caught:
            submit_job(client, journal, build_request("a red fox"))
    assert caught.value.exit_code == errors.EXIT_OUTCOME_UNKNOWN
    assert "gptimg jobs" in caught.value.hint
    assert len(proxy.calls(SUBMIT_TOOL)) == 1
    assert sandbox.stats()["submits"] == 1, "the gateway did run it: that is why it must not be resent"
    (row,) = journal.recent()
    assert row.status == "unknown" and row.job_id is None


def test_a_submit_answer_that_never_comes_is_unknown_and_never_resent(sandbox, journal, monkeypatch):
    monkeypatch.setattr(tool_calls, "SUBMIT_TIMEOUT", 0.5)

    def rule(seen: Seen) -> Fault | None:
        return Fault("hang", seconds=2) if seen.tool == SUBMIT_TOOL else None

    key = sandbox.create_account(email="slow@example.invalid")
    with FaultProxy(sandbox.base_url, rule) as proxy:
        client = make_client(proxy.base_url, key)
        with pytest.raises(errors.SubmitOutcomeUnknown):
            submit_job(client, journal, build_request("a red fox"))
    assert len(proxy.calls(SUBMIT_TOOL)) == 1
    assert journal.recent()[0].status == "unknown"


def test_a_refused_submit_is_recorded_as_rejected_and_charges_nothing(journal, tmp_path):
    with SandboxGateway(SandboxConfig(delay=0.2, credits=100)) as sb:
        key = sb.create_account(email="poor@example.invalid", credits=100)
        client = make_client(sb.base_url, key)
        with pytest.raises(errors.InsufficientCredits) as caught:
            submit_job(client, journal, build_request("a red fox"))
        balances = {a["email"]: a["credits"] for a in sb.stats()["accounts"]}
    assert caught.value.exit_code == errors.EXIT_CREDITS
    assert balances["poor@example.invalid"] == 100
    assert journal.recent()[0].status == "rejected"


def test_an_idempotent_submit_that_drops_after_sending_is_resent_with_the_same_key_and_charged_once(journal):
    """Issue #11: the catalogue declares the submit idempotent, so a doubtful submit may be resent."""
    drops = iter([True])

    def rule(seen: Seen) -> Fault | None:
        if seen.tool == SUBMIT_TOOL and next(drops, False):
            return Fault("reset", forward_first=True)
        return None

    with SandboxGateway(SandboxConfig(delay=0.2, idempotent_submit=True)) as sb:
        key = sb.create_account(email="idem@example.invalid")
        with FaultProxy(sb.base_url, rule) as proxy:
            client = make_client(proxy.base_url, key)
            client.submit_cost(300)  # the price read before the confirmation also reads the declaration
            job = submit_job(client, journal, build_request("a red fox"))
        sent = proxy.calls(SUBMIT_TOOL)
        assert len(sent) == 2
        keys = {request.arguments["idempotency_key"] for request in sent}
        assert len(keys) == 1 and keys.pop().startswith("gptimg-")
        assert sb.stats()["submits"] == 1, "charged once"
    (row,) = journal.recent()
    assert (row.status, row.job_id) == ("submitted", job.job_id)


def test_without_an_idempotency_declaration_no_key_is_sent(sandbox, journal):
    key = sandbox.create_account(email="plain@example.invalid")
    with FaultProxy(sandbox.base_url) as proxy:
        client = make_client(proxy.base_url, key)
        client.submit_cost(300)
        submit_job(client, journal, build_request("a red fox"))
    [sent] = proxy.calls(SUBMIT_TOOL)
    assert "idempotency_key" not in sent.arguments
