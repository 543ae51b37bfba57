"""Acceptance for everyday use (issue 13): files where you ask, prompts from anywhere, the sandbox
kept apart, output that never breaks, batch dry runs and .txt manifests.

Real processes only: ``gptimg`` (and uno-cli, and bin/uno.py) as subprocesses against a sandbox
subprocess on 127.0.0.1, on a pseudo-terminal where the terminal matters.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable

import pytest

from gptimg.credentials import CredentialStore
from gptimg.imagetypes import sniff_image_type

from .conftest import CliRunner, SandboxProcess, bin_uno_command, run_in_pty, uno_cli_command
from .test_cli_generate import balance, logged_in_runner

pytestmark = pytest.mark.e2e
GPTIMG = (sys.executable, "-m", "gptimg")
JAPANESE = "桜の下の柴犬、水彩画で ☕"


def image_type(path: Path) -> str | None:
    return sniff_image_type(path.read_bytes()[:16])


# --- where the images go ------------------------------------------------------------------------


def test_o_with_a_file_name_writes_that_file(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    result = runner.run(*GPTIMG, "generate", "a cat", "-o", "cat.png", "--yes")
    assert result.returncode == 0, result.stderr
    target = runner.cwd / "cat.png"
    assert target.is_file() and image_type(target) == "image/png"
    assert result.stdout.strip() == str(target)


def test_o_with_a_folder_keeps_automatic_names_that_never_overwrite(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    first = runner.run(*GPTIMG, "generate", "a cat", "-o", "pics/", "--yes")
    second = runner.run(*GPTIMG, "generate", "a cat", "-o", "pics", "--yes")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    files = sorted((runner.cwd / "pics").iterdir())
    assert len(files) == 2 and all(f.name.startswith("a-cat-") and image_type(f) == "image/png" for f in files)


def test_o_pattern_and_plain_name_with_several_images(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    pattern = runner.run(*GPTIMG, "generate", "A Red Fox", "-n", "2", "-o", "out/{slug}-{style}-{i}.png",
                         "--style", "Pixel_8bit", "--size", "1024X1536", "--yes")
    assert pattern.returncode == 0, pattern.stderr
    assert sorted(p.name for p in (runner.cwd / "out").iterdir()) == [
        "a-red-fox-pixel_8bit-1.png", "a-red-fox-pixel_8bit-2.png"]
    plain = runner.run(*GPTIMG, "generate", "a fox", "-n", "2", "-o", "fox.png", "--size", "1024*1024", "--yes")
    assert plain.returncode == 0, plain.stderr
    assert (runner.cwd / "fox-1.png").is_file() and (runner.cwd / "fox-2.png").is_file()


def test_an_existing_file_is_refused_before_anything_is_spent(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    mine = runner.cwd / "cat.png"
    mine.write_bytes(b"my own drawing")
    refused = runner.run(*GPTIMG, "generate", "a cat", "-o", "cat.png", "--yes", "--json")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert json.loads(refused.stdout)["error"] == "output_exists"
    assert mine.read_bytes() == b"my own drawing"
    assert sandbox.stats()["submits"] == 0 and balance(sandbox) == 3000
    replaced = runner.run(*GPTIMG, "generate", "a cat", "-o", "cat.png", "--overwrite", "--yes")
    assert replaced.returncode == 0, replaced.stderr
    assert image_type(mine) == "image/png"


def test_jpg_and_webp_targets_hold_those_bytes(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    pytest.importorskip("PIL")
    runner = logged_in_runner(sandbox, cli_runner)
    for name, media in (("cat.jpg", "image/jpeg"), ("cat.webp", "image/webp")):
        result = runner.run(*GPTIMG, "generate", "a cat", "-o", name, "--yes")
        assert result.returncode == 0, result.stderr
        assert image_type(runner.cwd / name) == media


def test_without_pillow_a_jpg_target_says_how_to_install_it_before_any_spend(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner], tmp_path: Path
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    blocker = tmp_path / "no-pillow" / "PIL"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise ImportError('Pillow is not installed here')\n")
    env = {"PYTHONPATH": f"{blocker.parent}:{runner.env['PYTHONPATH']}"}
    result = runner.run(*GPTIMG, "generate", "a cat", "-o", "cat.jpg", "--yes", env=env)
    assert result.returncode == 2
    assert "pip install 'gptimg[convert]'" in result.stderr
    assert sandbox.stats()["submits"] == 0 and not (runner.cwd / "cat.jpg").exists()


def test_dry_run_shows_the_exact_paths(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    result = runner.run(*GPTIMG, "generate", "a cat", "-n", "2", "-o", "shots/{slug}-{i}.webp", "--dry-run",
                        "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)["data"]
    assert data["paths"] == [str(runner.cwd / "shots" / f"a-cat-{i}.webp") for i in (1, 2)]
    assert sandbox.stats()["submits"] == 0


# --- where the prompt comes from ----------------------------------------------------------------


def _journal_prompts(runner: CliRunner) -> list[str]:
    listing = runner.run_json(*GPTIMG, "jobs", "--json")
    return [row["prompt"] for row in listing["data"]]


def test_prompt_from_stdin_and_from_a_file_passes_verbatim(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    long_prompt = ("Ein Fuchs im Schnee, " * 300).strip() + "\n" + JAPANESE
    piped = runner.run(*GPTIMG, "generate", "-", "--yes", input=long_prompt + "\n")
    assert piped.returncode == 0, piped.stderr
    brief = runner.cwd / "brief.txt"
    brief.write_text(JAPANESE + "\n  indented second line\n", encoding="utf-8")
    filed = runner.run(*GPTIMG, "generate", "--prompt-file", str(brief), "--yes")
    assert filed.returncode == 0, filed.stderr
    assert _journal_prompts(runner) == [JAPANESE + "\n  indented second line", long_prompt]


def test_a_dash_with_nothing_on_stdin_is_an_error_not_a_paid_job(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    empty = runner.run(*GPTIMG, "generate", "-", "--yes", input="")
    assert empty.returncode == 2 and "stdin was empty" in empty.stderr
    on_terminal = run_in_pty([*GPTIMG, "generate", "-", "--yes"], env=runner.env, cwd=runner.cwd)
    assert on_terminal.returncode == 2, on_terminal.output
    assert "stdin is a terminal" in on_terminal.output
    assert sandbox.stats()["submits"] == 0


# --- the sandbox stays a sandbox ----------------------------------------------------------------


def test_a_sandbox_login_leaves_the_real_active_account_alone(
    start_sandbox: Callable[..., SandboxProcess], cli_runner: Callable[..., CliRunner]
) -> None:
    sandbox = start_sandbox("--delay", "0.3", "--auto-approve", "--interval", "1")
    runner = cli_runner(sandbox.url, GPTIMG_NO_BROWSER="1")
    real = {"api_key": "uno_real_key_0123456789abcdef", "name": "Real Me", "email": "me@real.invalid",
            "user_id": "u_real", "active": True}
    runner.credentials_file.parent.mkdir(mode=0o700)
    runner.credentials_file.write_text(json.dumps([real]))
    runner.credentials_file.chmod(0o600)

    login = runner.run(*GPTIMG, "login", "--no-browser")
    assert login.returncode == 0, login.stderr
    assert "You are logged in as Real Me" in login.stderr  # said who you are before logging in again

    stored = json.loads(runner.credentials_file.read_text())
    assert stored[0] == real  # untouched, still uno-cli's active account
    [fake] = stored[1:]
    assert fake["sandbox"] is True and fake["gateway"] == sandbox.url and "active" not in fake
    # The real gateway (any other address) still gets the real key, in both CLIs' store logic...
    assert CredentialStore(runner.credentials_file).active_key("https://agentools.uno").api_key == real["api_key"]
    # ...and this sandbox gets its own account in gptimg and in the agent CLI.
    who = runner.run_json(*GPTIMG, "whoami", "--json")
    assert who["data"]["email"] == fake["email"] and who["data"].get("sandbox") is True
    agent = runner.run_json(*bin_uno_command(), "whoami")
    assert fake["email"] in json.dumps(agent) and agent.get("success") is not False
    # uno-cli 1.0.7 still reads the file (it keeps fields it does not know).
    official = subprocess.run([*uno_cli_command(), "use"], env=runner.env, cwd=runner.cwd, capture_output=True,
                              text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert official.returncode == 0, official.stderr
    assert "me@real.invalid" in official.stdout


def test_jobs_in_the_sandbox_are_marked_and_logout_names_the_account(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner, via_cli=True)
    assert runner.run(*GPTIMG, "generate", "a cat", "--yes").returncode == 0
    [row] = runner.run_json(*GPTIMG, "jobs", "--json")["data"]
    assert row["sandbox"] is True and row["gateway"] == sandbox.url
    assert "(sandbox)" in runner.run(*GPTIMG, "jobs").stdout
    logout = runner.run(*GPTIMG, "logout")
    assert logout.returncode == 0 and "Forgot Tester <tester@example.invalid>" in logout.stderr


def test_gptimg_sandbox_says_what_to_do_next(cli_runner: Callable[..., CliRunner], tmp_path: Path) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    process = subprocess.Popen([*GPTIMG, "sandbox", "--port", "0"], env=runner.env, cwd=runner.cwd,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # A sandbox that never prints its advice must fail the test, not hang it: stop it after a while.
    watchdog = threading.Timer(30, process.terminate)
    watchdog.start()
    try:
        first = process.stdout.readline()  # type: ignore[union-attr]
        assert first.startswith("sandbox gateway listening on http://127.0.0.1:")
        url = first.split(" on ", 1)[1].strip()
        advice = "".join(process.stderr.readline() for _ in range(6))  # type: ignore[union-attr]
        assert f"export UNO_API_URL={url}" in advice and f"{url}/device" in advice
    finally:
        watchdog.cancel()
        process.terminate()
        process.wait(timeout=10)
    helped = runner.run(*GPTIMG, "sandbox", "--help")
    assert helped.returncode == 0 and "Usage: gptimg sandbox [OPTIONS]" in helped.stdout
    assert "╭─ Options" in helped.stdout or "Options" in helped.stdout


# --- output that never breaks -------------------------------------------------------------------


def test_every_command_runs_under_a_c_locale_with_a_japanese_prompt(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    c_locale = {"LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": ""}
    manifest = runner.cwd / "prompts.txt"
    manifest.write_bytes(f"# 一覧\n{JAPANESE}\n".encode())

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = runner.run(*GPTIMG, *args, env=c_locale)
        assert result.returncode == expect, f"{args}: {result.stderr}"
        assert "Traceback" not in result.stderr, f"{args}: {result.stderr}"
        return result

    made = run("generate", JAPANESE, "--yes")
    assert Path(made.stdout.strip()).is_file()
    run("generate", JAPANESE, "--yes", "--json")
    run("generate", JAPANESE, "--dry-run")
    listing = run("jobs")
    assert "?" in listing.stdout  # shown as replacement characters, not a crash
    rows = json.loads(run("jobs", "--json").stdout)["data"]
    assert rows[0]["prompt"] == JAPANESE  # JSON escapes it: the text arrives intact
    run("result", rows[0]["job_id"])
    run("batch", str(manifest), "--yes")
    run("batch", str(manifest), "--dry-run")
    for args in (("whoami",), ("accounts",), ("styles",), ("--help",), ("generate", "--help"), ("sandbox", "--help")):
        run(*args)
    run("result", "nosuchjob123", expect=5)
    run("logout")


def test_a_finished_generate_ends_with_one_summary_line(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    result = runner.run(*GPTIMG, "generate", "a cat", "-n", "2", "--yes")
    assert result.returncode == 0, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"Saved 2 images in \d+:\d\d, 300 credits used, balance 2700 credits\.", last), last


def test_the_progress_line_keeps_the_clock_at_40_columns(
    start_sandbox: Callable[..., SandboxProcess], cli_runner: Callable[..., CliRunner]
) -> None:
    sandbox = start_sandbox("--delay", "2.5")
    runner = logged_in_runner(sandbox, cli_runner)
    screen = run_in_pty([*GPTIMG, "generate", "a cat", "--yes"], env=runner.env, cwd=runner.cwd, columns=40)
    assert screen.returncode == 0, screen.output
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.output)
    # The live line, ticking between polls: the elapsed time and the estimate both on screen.
    assert re.search(r"submitted 0:0[12] / ~0:03", plain), plain


def test_declining_on_a_terminal_is_calm(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    screen = run_in_pty([*GPTIMG, "generate", "a cat"], env=runner.env, cwd=runner.cwd,
                        answer=("[y/N]", "no\r"))
    assert screen.returncode == 1, screen.output
    assert "Nothing was spent." in screen.output and "error:" not in screen.output
    assert sandbox.stats()["submits"] == 0


def test_bare_gptimg_shows_help_and_version(cli_runner: Callable[..., CliRunner]) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    bare = runner.run(*GPTIMG)
    assert bare.returncode == 0 and "Usage: gptimg" in bare.stdout and "error:" not in bare.stderr
    assert runner.run(*GPTIMG, "-V").stdout.startswith("gptimg ")
    assert "Examples" in runner.run(*GPTIMG, "generate", "--help").stdout


def test_friendly_input_and_a_mistyped_job_id(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    many = runner.run(*GPTIMG, "generate", "a cat", "-n", "10", "--yes")
    assert many.returncode == 2 and "gptimg batch" in many.stderr
    typo = runner.run(*GPTIMG, "result", "abc123def456")
    assert typo.returncode == 5 and "No such job: abc123def456" in typo.stderr
    assert "no longer" not in typo.stderr
    assert sandbox.stats()["submits"] == 0


# --- batch, finished ------------------------------------------------------------------------------


def test_batch_dry_run_shows_plan_and_cost_and_spends_nothing(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    manifest = runner.cwd / "prompts.txt"
    manifest.write_text("# holiday cards\na red fox\n\na blue whale\n   # indented comment\na red fox\n")
    planned = runner.run(*GPTIMG, "batch", str(manifest), "--dry-run")
    assert planned.returncode == 0, planned.stderr
    assert "3 lines: 3 to submit" in planned.stdout and "Would spend 900 credits" in planned.stdout
    assert "Nothing was submitted" in planned.stdout
    assert sandbox.stats()["submits"] == 0 and balance(sandbox) == 3000

    ran = runner.run(*GPTIMG, "batch", str(manifest), "--yes", "-o", "cards")
    assert ran.returncode == 0, ran.stderr
    pngs = sorted(p.name for p in (runner.cwd / "cards").glob("*.png"))
    assert len(pngs) == 3 and sum(name.startswith("a-red-fox-") for name in pngs) == 2
    assert f"images in      {(runner.cwd / 'cards').resolve()}" in ran.stdout
    assert ran.stderr.count("3 lines:") == 1  # the plan line, once
