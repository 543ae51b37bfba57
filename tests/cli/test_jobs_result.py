"""``gptimg result`` and ``gptimg jobs`` in-process: fetch once, never twice; the journal as a listing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable

import pytest
from rich.console import Console

from gptimg import errors
from gptimg.cli import browser
from gptimg.cli.progress import JobProgress, clock_text
from gptimg.sandbox import SandboxGateway

from ._support import Run


def test_result_twice_downloads_once(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    job_id = run("generate", "a red fox", "--yes", "--no-wait", "--out", str(tmp_path)).out.strip()
    first = run("result", job_id, "--json")
    assert first.code == 0, first.err
    items = first.json()["data"]["items"]
    assert [item["downloaded"] for item in items] == [True]
    cdn_after_first = sandbox.stats()["cdn_requests"]

    second = run("result", job_id, "--json")
    assert second.code == 0
    again = second.json()["data"]["items"]
    assert [item["downloaded"] for item in again] == [False]
    assert again[0]["path"] == items[0]["path"]
    assert sandbox.stats()["cdn_requests"] == cdn_after_first
    assert second.json()["meta"]["credits_used"] == 0
    assert len(list(tmp_path.iterdir())) == 1


def test_result_of_a_job_this_machine_never_saw(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job_id = run("generate", "a red fox", "--yes", "--no-wait", "--json").json()["data"]["job_id"]
    monkeypatch.setenv("GPTIMG_HOME", str(tmp_path / "other-journal"))
    monkeypatch.chdir(tmp_path)
    result = run("result", job_id)
    assert result.code == 0, result.err
    saved = Path(result.out.strip())
    assert saved.parent == tmp_path and saved.name == f"image-{job_id}-1.png"


def test_result_for_an_unknown_job_fails_with_exit_5(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str
) -> None:
    result = run("result", "ffffffffffff", "--json")
    assert result.code == errors.EXIT_JOB_FAILED
    assert result.json()["error"] == "job_not_found"


def test_result_timeout_zero_checks_once(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]
) -> None:
    from ._support import log_in

    gateway = make_cli_sandbox(delay=60)
    log_in(gateway)
    job_id = run("generate", "slow", "--yes", "--no-wait").out.strip()
    result = run("result", job_id, "--timeout", "0", "--json")
    assert result.code == errors.EXIT_STILL_RUNNING
    assert result.json()["job_id"] == job_id


def test_jobs_lists_newest_first_with_status_and_files(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    done = run("generate", "first fox", "--yes", "--json", "--out", str(tmp_path)).json()["data"]
    pending = run("generate", "second fox", "--yes", "--no-wait", "--json").json()["data"]
    listing = run("jobs", "--json").json()["data"]
    assert [row["job_id"] for row in listing] == [pending["job_id"], done["job_id"]]
    assert {"job_id", "status", "prompt", "created_at", "files"} <= set(listing[0])
    assert listing[1]["status"] == "done"
    assert listing[1]["files"] == [done["items"][0]["path"]]
    assert listing[0]["status"] == "submitted"
    assert [row["job_id"] for row in run("jobs", "--limit", "1", "--json").json()["data"]] == [pending["job_id"]]
    human = run("jobs")
    assert done["job_id"] in human.out and "first fox" in human.out and "\x1b" not in human.out


def test_jobs_on_an_empty_journal_says_so(run: Callable[..., Run]) -> None:
    result = run("jobs")
    assert result.code == 0 and "No jobs yet" in result.err
    assert run("jobs", "--json").json()["data"] == []
    assert run("jobs", "--limit", "0").code == errors.EXIT_BAD_INPUT


# --- progress and browser, without a gateway -----------------------------------------------


def test_plain_progress_prints_a_line_per_status_change_only() -> None:
    sink = io.StringIO()
    progress = JobProgress(Console(file=sink, width=100), job_id="abc", estimated=150)
    with progress:
        progress.status("abc", "pending", 1.0, 150)
        progress.status("abc", "pending", 2.0, 150)
        progress.status("abc", "running", 60.0, 150)
    lines = sink.getvalue().splitlines()
    assert lines == ["job abc: pending (0:01 of about 2:30)", "job abc: running (1:00 of about 2:30)"]


def test_live_progress_draws_on_a_terminal_and_leaves_nothing_behind() -> None:
    sink = io.StringIO()
    console = Console(file=sink, force_terminal=True, width=100)
    progress = JobProgress(console, job_id="abc", estimated=150)
    assert progress.live_mode
    with progress:
        progress.status("abc", "running", 200.0, 150)  # past the estimate
        progress.status("abc", "done", 201.0, 150)
        rendered = Console(file=io.StringIO(), width=100)
        rendered.print(progress.render())
    assert "job abc" in rendered.file.getvalue()  # type: ignore[attr-defined]
    assert "downloading" in rendered.file.getvalue()  # type: ignore[attr-defined]


def test_clock_text() -> None:
    assert clock_text(75.4) == "1:15" and clock_text(-3) == "0:00"


@pytest.mark.parametrize(
    ("env", "platform", "reason"),
    [
        ({"DISPLAY": ":0"}, "linux", None),
        ({}, "linux", "no display"),
        ({}, "darwin", None),
        ({"CI": "true"}, "darwin", "running under CI"),
        ({"SSH_CONNECTION": "1 2 3 4", "DISPLAY": ":0"}, "linux", "running over SSH"),
        ({"GPTIMG_NO_BROWSER": "1"}, "win32", "GPTIMG_NO_BROWSER is set"),
        ({"CI": "false", "WAYLAND_DISPLAY": "w"}, "linux", None),
    ],
)
def test_browser_only_opens_where_someone_can_see_it(env: dict[str, str], platform: str, reason: str | None) -> None:
    assert browser.why_not_open(env, platform) == reason


def test_open_flag_hands_the_images_to_the_viewer(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shown: list[list[Path]] = []
    monkeypatch.setattr(browser, "why_not_open", lambda: None)
    monkeypatch.setattr(browser, "open_files", lambda paths: shown.append(list(paths)) or True)
    result = run("generate", "a red fox", "--yes", "--open", "--out", str(tmp_path))
    assert result.code == 0
    assert shown == [[Path(result.out.strip())]]
