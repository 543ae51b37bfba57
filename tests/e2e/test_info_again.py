"""``gptimg info`` and ``gptimg again`` as real processes against a sandbox process."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from gptimg.provenance import read_record

from .conftest import CliRunner, SandboxProcess
from .test_cli_generate import GPTIMG, logged_in_runner

pytestmark = pytest.mark.e2e
PROMPT = "a fox \x1b[31min red\x1b[0m under cherry blossoms, 桜"


def _first_image(runner: CliRunner, *extra: str) -> tuple[str, Path]:
    made = runner.run_json(*GPTIMG, "generate", PROMPT, "--style", "ghibli_anime", "--size", "1024x1536",
                           "-n", "2", "--yes", "--json", *extra)
    return made["data"]["job_id"], Path(made["data"]["items"][0]["path"])


def test_info_prints_the_record_human_and_json(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    job_id, image = _first_image(runner)
    plain = runner.home / "plain.png"
    plain.write_bytes(b"\x89PNG\r\n\x1a\n")

    envelope = runner.run_json(*GPTIMG, "info", str(image), str(plain), "--json")
    first, second = envelope["data"]
    assert first["record"]["prompt"] == PROMPT and first["record"]["job_id"] == job_id
    assert first["record"]["image_index"] == 1 and first["record"]["image_count"] == 2
    assert first["record"]["sandbox"] is True and first["record"]["model"] == "gpt-image-2"
    assert second == {"path": str(plain), "record": None}

    human = runner.run(*GPTIMG, "info", str(image), str(plain))
    assert human.returncode == 0, human.stderr
    assert job_id in human.stdout and "ghibli_anime" in human.stdout and "1 of 2" in human.stdout
    assert "\x1b" not in human.stdout and "\\x1b[31min red" in human.stdout
    assert "no gptimg record" in human.stdout

    missing = runner.run(*GPTIMG, "info", str(runner.home / "nope.png"))
    assert missing.returncode == 2 and "cannot read it" in missing.stdout and "Traceback" not in missing.stderr


def test_again_needs_consent_and_spends_nothing_without_it(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    job_id, image = _first_image(runner)
    submits = sandbox.stats()["submits"]

    refused = runner.run(*GPTIMG, "again", str(image))  # no terminal, no --yes
    assert refused.returncode == 2 and "confirmation" in refused.stderr.lower()

    controller, terminal = pty.openpty()
    process = subprocess.Popen([*GPTIMG, "again", job_id, "--style", "pixel_8bit"], env=runner.env, cwd=runner.cwd,
                               stdin=terminal, stdout=subprocess.PIPE, stderr=terminal)
    os.close(terminal)
    seen = b""
    while b"credits?" not in seen:  # the question, after the summary
        try:
            chunk = os.read(controller, 4096)
        except OSError:  # EIO: the process closed the terminal
            chunk = b""
        assert chunk, (seen, process.stdout.read() if process.stdout else b"")
        seen += chunk
    os.write(controller, b"n\r")
    assert process.wait(timeout=60) != 0
    os.close(controller)
    assert b"pixel_8bit" in seen and b"1024x1536" in seen  # the summary shows the changed request
    assert sandbox.stats()["submits"] == submits, "a declined or unconfirmed `again` must not submit"


def test_again_submits_once_with_the_overrides(sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]) -> None:
    runner = logged_in_runner(sandbox, cli_runner)
    job_id, image = _first_image(runner)
    submits = sandbox.stats()["submits"]
    out = runner.home / "again"

    from_image = runner.run_json(*GPTIMG, "again", str(image), "--size", "1536x1024", "-n", "1", "--yes", "--json",
                                 "--out", str(out))
    assert sandbox.stats()["submits"] == submits + 1
    new_id = from_image["data"]["job_id"]
    assert new_id != job_id
    [item] = from_image["data"]["items"]
    record = read_record(Path(item["path"]))
    assert record is not None
    assert (record["prompt"], record["style"], record["size"], record["image_count"]) == (
        PROMPT, "ghibli_anime", "1536x1024", 1)

    from_job = runner.run_json(*GPTIMG, "again", job_id, "--style", "none", "--prompt", "a wolf", "--yes", "--json",
                               "--out", str(out))
    assert sandbox.stats()["submits"] == submits + 2
    records = [read_record(Path(item["path"])) for item in from_job["data"]["items"]]
    assert [(r["prompt"], r["style"], r["size"]) for r in records if r] == [("a wolf", None, "1024x1536")] * 2

    unknown = runner.run(*GPTIMG, "again", "ffffffffffff", "--yes")
    assert unknown.returncode == 2 and "neither an image file nor a job" in unknown.stderr
    assert sandbox.stats()["submits"] == submits + 2
