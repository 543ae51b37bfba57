"""``gptimg generate`` in-process against the sandbox: the order of checks, confirmation, waiting, saving."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

import pytest

from gptimg import errors
from gptimg.imagetypes import png_dimensions
from gptimg.jobs import JobJournal
from gptimg.sandbox import SandboxGateway

from ._support import EMAIL, Run, log_in


def credits_of(gateway: SandboxGateway, email: str = EMAIL) -> int:
    return next(a["credits"] for a in gateway.stats()["accounts"] if a["email"] == email)


def test_generate_saves_a_png_of_the_requested_size_and_reports_paths(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    result = run("generate", "a red fox", "--size", "1536x1024", "--yes", "--out", str(tmp_path))
    assert result.code == 0, result.err
    saved = [Path(line) for line in result.out.splitlines()]
    assert len(saved) == 1 and saved[0].parent == tmp_path
    assert saved[0].name.startswith("a-red-fox-") and saved[0].name.endswith("-1.png")
    assert png_dimensions(saved[0].read_bytes()) == (1536, 1024)
    assert logged_in not in result.out + result.err


def test_json_envelope_has_job_items_and_credits_used(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    result = run("generate", "two cats", "-n", "2", "--yes", "--json", "--out", str(tmp_path))
    assert result.code == 0, result.err
    envelope = result.json()
    assert envelope["success"] is True
    assert set(envelope["data"]) >= {"job_id", "status", "items"}
    assert envelope["data"]["status"] == "done"
    assert envelope["meta"]["credits_used"] == 300
    paths = [Path(item["path"]) for item in envelope["data"]["items"]]
    assert len(paths) == 2 and all(p.is_file() for p in paths)
    assert all(item["url"].startswith("http://127.0.0.1") for item in envelope["data"]["items"])


def test_no_tty_and_no_yes_refuses_and_spends_nothing(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    before = credits_of(sandbox)
    result = run("generate", "a red fox", "--json", "--out", str(tmp_path))
    assert result.code == errors.EXIT_BAD_INPUT
    assert result.json()["error"] == "confirmation_required"
    assert sandbox.stats()["submits"] == 0
    assert credits_of(sandbox) == before
    assert list(tmp_path.iterdir()) == []


def _terminal_stdin(monkeypatch: pytest.MonkeyPatch, typed: str) -> None:
    """A stdin that is a terminal where the person types ``typed``."""
    import io

    stdin = io.StringIO(typed)
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)


@pytest.mark.parametrize("typed", ["n\n", "\n", "", "maybe\n"])
def test_a_person_who_answers_no_spends_nothing(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, monkeypatch: pytest.MonkeyPatch, typed: str
) -> None:
    _terminal_stdin(monkeypatch, typed)
    result = run("generate", "a red fox", "--style", "pixel_8bit")
    assert result.code == errors.EXIT_FAILURE
    assert "Spend 300 credits? [y/N]" in result.err
    assert "pixel_8bit" in result.err and "3000 now, 2700 after" in result.err
    assert "Nothing was spent." in result.err and "error:" not in result.err
    assert sandbox.stats()["submits"] == 0


@pytest.mark.parametrize("typed", ["y\n", "yes\n", "YES\n", " Y \n"])
def test_a_person_who_answers_yes_gets_the_image(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
    typed: str,
) -> None:
    _terminal_stdin(monkeypatch, typed)
    result = run("generate", "a red fox", "--out", str(tmp_path))
    assert result.code == 0, result.err
    assert sandbox.stats()["submits"] == 1


def test_a_short_balance_stops_before_the_submit(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]
) -> None:
    gateway = make_cli_sandbox()
    log_in(gateway, credits=100)
    result = run("generate", "a red fox", "--yes", "--json")
    assert result.code == errors.EXIT_CREDITS
    envelope = result.json()
    assert envelope["error"] == "insufficient_credits" and "Top up" in envelope["hint"]
    assert gateway.stats()["submits"] == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["", "--yes"], "prompt is empty"),
        (["a fox", "--style", "ghibli", "--yes"], "ghibli_anime"),
        (["a fox", "-n", "5", "--yes"], "at most 4 images"),
        (["a fox", "--size", "999x999", "--yes"], "Unknown size"),
        (["a fox", "--ref", "missing.png", "--yes"], "not found"),
        (["a fox", "--ref", "notes.txt", "--yes"], "not a PNG"),
    ],
)
def test_bad_input_is_refused_before_any_request(
    run: Callable[..., Run],
    sandbox: SandboxGateway,
    logged_in: str,
    args: list[str],
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    before = sandbox.stats()["requests"]
    result = run("generate", *args, "--json")
    assert result.code == errors.EXIT_BAD_INPUT
    envelope = result.json()
    assert envelope["success"] is False
    assert needle in envelope["message"] + envelope.get("hint", "")
    assert sandbox.stats()["requests"] == before


def test_dry_run_sends_nothing_and_needs_no_login(
    run: Callable[..., Run], sandbox: SandboxGateway, tmp_path: Path
) -> None:
    png = tmp_path / "ref.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 32)
    result = run(
        "generate", "a fox", "--style", "lego_brick", "--ref", str(png), "--ref", "https://img.example/x.png",
        "--dry-run", "--json",
    )
    assert result.code == 0, result.err
    data = result.json()["data"]
    assert data["dry_run"] is True
    assert data["arguments"]["style"] == "lego_brick"
    assert data["arguments"]["reference_image_urls"] == f"<upload {png}>,https://img.example/x.png"
    assert data["uploads"] == [str(png)]
    assert sandbox.stats()["requests"] == 0


def test_dry_run_human_output_shows_the_arguments(run: Callable[..., Run], tmp_path: Path) -> None:
    result = run("generate", "a fox", "--dry-run", "--base-url", "http://127.0.0.1:9")
    assert result.code == 0, result.err
    assert '"prompt": "a fox"' in result.out and "nothing was spent" in result.err


def test_no_wait_prints_the_job_id_and_how_to_fetch_it(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    result = run("generate", "a red fox", "--yes", "--no-wait", "--out", str(tmp_path))
    assert result.code == 0, result.err
    job_id = result.out.strip()
    assert f"gptimg result {job_id}" in result.err
    assert list(tmp_path.iterdir()) == []
    record = JobJournal().get(job_id)
    assert record is not None and record.status == "submitted" and record.out_dir == str(tmp_path)

    later = run("result", job_id, "--json")
    assert later.code == 0, later.err
    assert Path(later.json()["data"]["items"][0]["path"]).parent == tmp_path


def test_no_wait_json_names_the_result_command(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str
) -> None:
    envelope = run("generate", "a red fox", "--yes", "--no-wait", "--json").json()
    assert envelope["data"]["status"] == "submitted"
    assert envelope["data"]["result_command"] == f"gptimg result {envelope['data']['job_id']}"
    assert envelope["meta"]["credits_used"] == 300


def test_timeout_while_running_exits_6_and_keeps_the_job(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]
) -> None:
    gateway = make_cli_sandbox(delay=60)
    log_in(gateway)
    result = run("generate", "a slow fox", "--yes", "--timeout", "0", "--json")
    assert result.code == errors.EXIT_STILL_RUNNING
    envelope = result.json()
    assert envelope["error"] == "still_running"
    job_id = envelope["job_id"]
    assert f"gptimg result {job_id}" in envelope["hint"]
    assert JobJournal().get(job_id).status == "running"  # type: ignore[union-attr]


def test_timeout_human_output_names_the_resume_command(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]
) -> None:
    gateway = make_cli_sandbox(delay=60)
    log_in(gateway)
    result = run("generate", "a slow fox", "--yes", "--timeout", "1")
    assert result.code == errors.EXIT_STILL_RUNNING
    assert "gptimg result " in result.err and result.out == ""


def test_generation_failure_exits_5_with_the_job_id(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str
) -> None:
    result = run("generate", "please [sandbox:fail]", "--yes", "--json")
    assert result.code == errors.EXIT_JOB_FAILED
    envelope = result.json()
    assert envelope["error"] == "generation_failed" and envelope["job_id"]
    assert JobJournal().get(envelope["job_id"]).status == "error"  # type: ignore[union-attr]


def test_not_logged_in_exits_3_before_anything_is_spent(
    run: Callable[..., Run], sandbox: SandboxGateway
) -> None:
    result = run("generate", "a red fox", "--yes", "--json")
    assert result.code == errors.EXIT_AUTH
    assert result.json()["error"] == "not_logged_in"
    assert sandbox.stats()["submits"] == 0


def test_ctrl_c_held_during_the_submit_still_names_the_job(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C held by paid_section surfaces as submit_job ends: the job must still be reported."""
    import gptimg.jobs

    real_submit = gptimg.jobs.submit_job

    def submit_then_interrupted(*args: Any, **kwargs: Any) -> Any:
        real_submit(*args, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(gptimg.jobs, "submit_job", submit_then_interrupted)
    result = run("generate", "a red fox", "--yes", "--json")
    assert result.code == errors.EXIT_INTERRUPTED
    envelope = result.json()
    assert envelope["error"] == "interrupted"
    assert f"gptimg result {envelope['job_id']}" in result.err


def test_resume_command_carries_an_explicit_base_url(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    gateway = make_cli_sandbox(delay=60)
    log_in(gateway)
    monkeypatch.delenv("UNO_API_URL")
    result = run("generate", "a slow fox", "--yes", "--timeout", "0", "--json", "--base-url", gateway.base_url)
    assert result.code == errors.EXIT_STILL_RUNNING
    assert f"--base-url {gateway.base_url}" in result.json()["hint"]


def test_no_wait_and_sandbox_together_are_refused(run: Callable[..., Run]) -> None:
    result = run("generate", "a fox", "--sandbox", "--no-wait", "--yes")
    assert result.code == errors.EXIT_BAD_INPUT


def test_sandbox_flag_runs_everything_without_touching_the_real_credentials(
    run: Callable[..., Run], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated_home: Path
) -> None:
    monkeypatch.setenv("GPTIMG_SANDBOX_DELAY", "0.2")
    monkeypatch.setenv("UNO_API_KEY", "uno_should_never_be_used_0000")
    result = run("generate", "a shiba inu", "--style", "ghibli_anime", "--sandbox", "--yes", "--json", "--out", str(tmp_path))
    assert result.code == 0, result.err
    envelope = result.json()
    assert envelope["meta"]["sandbox"] is True
    assert Path(envelope["data"]["items"][0]["path"]).is_file()
    assert not (isolated_home / ".uno").exists()


def test_bad_sandbox_delay_is_bad_input(run: Callable[..., Run], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTIMG_SANDBOX_DELAY", "soon")
    assert run("generate", "a fox", "--sandbox", "--yes").code == errors.EXIT_BAD_INPUT


def test_out_that_is_a_file_is_refused_before_the_submit(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = run("generate", "a fox", "--yes", "--out", str(blocker))
    # output_not_writable exits 1 before the submit as after it (errors.EXIT_CODES): one code, one exit.
    assert result.code == errors.EXIT_FAILURE
    assert sandbox.stats()["requests"] == 0


def test_reference_files_are_uploaded_and_sent_as_urls(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    from gptimg.sandbox import images

    ref = tmp_path / "ref.png"
    ref.write_bytes(images.render_image("ref", None, "1024x1024", 0))
    result = run("generate", "restyle", "--ref", str(ref), "--yes", "--json", "--out", str(tmp_path / "out"))
    assert result.code == 0, result.err
    assert sandbox.stats()["uploads"] == 1
    record = JobJournal().get(result.json()["data"]["job_id"])
    assert record is not None and "/files/f_" in (record.reference_urls or "")


def test_human_output_has_no_escape_codes_without_a_terminal(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    result = run("generate", "a red fox", "--yes", "--out", str(tmp_path))
    assert result.code == 0
    assert "\x1b" not in result.out and "\x1b" not in result.err
    assert "Submitted job" in result.err
