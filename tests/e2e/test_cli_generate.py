"""Acceptance for the human CLI: ``gptimg`` as a subprocess against a sandbox subprocess.

Each test is one line of the issue's acceptance list. Nothing here leaves
127.0.0.1 or touches the real home: the shared fixtures give every CLI a
throw-away HOME and GPTIMG_HOME.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from gptimg.credentials import CredentialStore
from gptimg.imagetypes import png_dimensions

from .conftest import CliRunner, SandboxProcess

pytestmark = pytest.mark.e2e
GPTIMG = (sys.executable, "-m", "gptimg")


def logged_in_runner(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner], *, via_cli: bool = False
) -> CliRunner:
    """A runner whose HOME holds a sandbox key; ``via_cli`` stores it with ``gptimg login --key`` (slower)."""
    runner = cli_runner(sandbox.url, GPTIMG_NO_BROWSER="1")
    key = sandbox.create_account("Tester", "tester@example.invalid")
    if via_cli:
        login = runner.run_json(*GPTIMG, "login", "--key", key, "--json")
        assert login["data"]["email"] == "tester@example.invalid"
        assert key not in json.dumps(login)
    else:
        CredentialStore(runner.credentials_file).save_account(key, "Tester", "tester@example.invalid")
    return runner


def balance(sandbox: SandboxProcess, email: str = "tester@example.invalid") -> int:
    return next(a["credits"] for a in sandbox.stats()["accounts"] if a["email"] == email)


def test_generate_writes_a_valid_png_of_the_requested_size(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner, via_cli=True)
    out = runner.home / "pictures"
    envelope = runner.run_json(
        *GPTIMG, "generate", "a shiba inu under cherry blossoms", "--style", "ghibli_anime",
        "--size", "1024x1536", "--yes", "--json", "--out", str(out),
    )
    assert set(envelope) >= {"success", "data", "meta"} and envelope["success"] is True
    assert set(envelope["data"]) >= {"job_id", "status", "items"}
    assert envelope["meta"]["credits_used"] == 300
    [item] = envelope["data"]["items"]
    path = Path(item["path"])
    assert path.parent == out and path.suffix == ".png"
    assert png_dimensions(path.read_bytes()) == (1024, 1536)
    assert balance(sandbox) == 2700


def test_human_generate_prints_only_paths_on_stdout(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    result = runner.run(*GPTIMG, "generate", "a red fox", "-n", "2", "--yes")
    assert result.returncode == 0, result.stderr
    paths = [Path(line) for line in result.stdout.splitlines()]
    assert len(paths) == 2 and all(p.is_file() and p.parent == runner.cwd for p in paths)
    assert "\x1b" not in result.stdout + result.stderr


def test_without_a_terminal_and_without_yes_nothing_is_spent(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    before = balance(sandbox)
    envelope = runner.run_json(*GPTIMG, "generate", "a red fox", "--json", expect_rc=2)
    assert envelope["success"] is False and envelope["error"] == "confirmation_required"
    assert "--yes" in envelope["hint"]
    assert balance(sandbox) == before
    assert sandbox.stats()["submits"] == 0


def _journal_job_id(home: Path, deadline: float) -> str | None:
    path = home / "gptimg-data" / "journal.sqlite3"
    while time.monotonic() < deadline:
        if path.exists():
            try:
                with sqlite3.connect(str(path), timeout=5) as db:
                    row = db.execute("SELECT job_id FROM jobs WHERE job_id IS NOT NULL ORDER BY id DESC").fetchone()
            except sqlite3.OperationalError:  # not migrated yet
                row = None
            if row:
                return str(row[0])
        time.sleep(0.05)
    return None


def test_sigint_while_polling_then_result_fetches_it_once(
    start_sandbox: Callable[..., SandboxProcess], cli_runner: Callable[..., CliRunner]
) -> None:
    sandbox = start_sandbox("--delay", "3")
    runner = logged_in_runner(sandbox, cli_runner)
    out = runner.home / "out"
    process = subprocess.Popen(
        [*GPTIMG, "generate", "a lighthouse at dusk", "--yes", "--json", "--out", str(out)],
        env=runner.env, cwd=runner.cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts children with SIGINT ignored; Python then would not raise.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        job_id = _journal_job_id(runner.home, time.monotonic() + 30)
        assert job_id, "the journal never got a job id"
        time.sleep(0.3)  # let it reach the long-poll
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert f"gptimg result {job_id}" in stderr
    interrupted = json.loads(stdout)
    assert interrupted["success"] is False and interrupted["job_id"] == job_id
    assert not out.exists() or list(out.iterdir()) == []

    fetched = runner.run_json(*GPTIMG, "result", job_id, "--json", timeout=60)
    [item] = fetched["data"]["items"]
    assert item["downloaded"] is True and Path(item["path"]).parent == out
    assert png_dimensions(Path(item["path"]).read_bytes()) == (1024, 1024)
    downloads = sandbox.stats()["cdn_requests"]

    again = runner.run_json(*GPTIMG, "result", job_id, "--json")
    assert [i["downloaded"] for i in again["data"]["items"]] == [False]
    assert sandbox.stats()["cdn_requests"] == downloads
    assert sandbox.stats()["submits"] == 1


def test_unknown_style_is_bad_input_and_sends_nothing(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    before = sandbox.stats()["requests"]
    result = runner.run(*GPTIMG, "generate", "a red fox", "--style", "ghibli", "--yes")
    assert result.returncode == 2
    assert "ghibli_anime" in result.stderr and result.stdout == ""
    assert sandbox.stats()["requests"] == before


def test_the_image_cdn_never_sees_the_authorization_header(
    start_sandbox: Callable[..., SandboxProcess], cli_runner: Callable[..., CliRunner]
) -> None:
    sandbox = start_sandbox("--delay", "0.3", "--separate-cdn")
    runner = logged_in_runner(sandbox, cli_runner)
    envelope = runner.run_json(*GPTIMG, "generate", "a red fox", "-n", "2", "--yes", "--json")
    urls = [item["url"] for item in envelope["data"]["items"]]
    assert all(not url.startswith(sandbox.url) for url in urls)  # really another origin
    stats = sandbox.stats()
    assert stats["cdn_requests"] >= 2
    assert stats["cdn_authorization_headers"] == 0


def test_jobs_json_lists_the_done_job_and_its_saved_path(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    made = runner.run_json(*GPTIMG, "generate", "a red fox", "--yes", "--json")
    listing: dict[str, Any] = runner.run_json(*GPTIMG, "jobs", "--json")
    row = next(r for r in listing["data"] if r["job_id"] == made["data"]["job_id"])
    assert row["status"] == "done"
    assert row["files"] == [made["data"]["items"][0]["path"]]
    assert row["prompt"] == "a red fox" and row["created_at"]


def test_timeout_while_running_exits_6_with_the_resume_command(
    start_sandbox: Callable[..., SandboxProcess], cli_runner: Callable[..., CliRunner]
) -> None:
    sandbox = start_sandbox("--delay", "60")
    runner = logged_in_runner(sandbox, cli_runner)
    result = runner.run(*GPTIMG, "generate", "a slow fox", "--yes", "--timeout", "1")
    assert result.returncode == 6
    assert "gptimg result " in result.stderr


def test_sandbox_flag_works_on_a_fresh_machine(cli_runner: Callable[..., CliRunner]) -> None:
    runner = cli_runner("http://127.0.0.1:9", GPTIMG_SANDBOX_DELAY="0.3", GPTIMG_NO_BROWSER="1")
    envelope = runner.run_json(*GPTIMG, "generate", "a shiba inu", "--sandbox", "--yes", "--json")
    assert Path(envelope["data"]["items"][0]["path"]).is_file()
    assert not (runner.home / ".uno").exists()
