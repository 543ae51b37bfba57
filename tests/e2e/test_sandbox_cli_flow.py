"""Acceptance: a real uno-style CLI cannot tell the sandbox from the gateway, login to logout."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from gptimg import image_tool

from .conftest import (
    CliRunner,
    SandboxProcess,
    bin_uno_command,
    flatten_mcp,
    http_request,
    png_size,
    uno_cli_command,
)

CLIS = [pytest.param(uno_cli_command(), id="uno-cli"), pytest.param(bin_uno_command(), id="bin-uno")]


@pytest.mark.e2e
@pytest.mark.parametrize("cli", CLIS)
def test_full_flow_login_to_logout(cli: list[str], sandbox: SandboxProcess,
                                   cli_runner: Callable[..., CliRunner]) -> None:
    runner = cli_runner(sandbox.url, UNO_OAUTH_SCOPE="mcp:gpt-image-2")

    start = runner.run_json(*cli, "login", "--start", "--compact")
    assert start["status"] == "pending"
    assert start["verification_uri_complete"] == f"{sandbox.url}/device?code={start['user_code']}"
    # Approve before the first poll: uno-cli sleeps a fixed 5 s between polls, so none happens.
    assert sandbox.approve(start["user_code"]) == 200

    login = runner.run_json(*cli, "login", "--poll", start["device_code"], "--compact", timeout=30)
    assert login["success"] is True and login["email"] == "sandbox@example.invalid"
    stored = json.loads(runner.credentials_file.read_text())
    stored = stored if isinstance(stored, list) else [stored]
    assert [a["api_key"].startswith("uno_sbx_") for a in stored] == [True]
    assert "uno_sbx_" not in json.dumps(login)

    whoami = runner.run_json(*cli, "whoami", "--compact")
    assert whoami["data"]["credits"] == 3000 and whoami["data"]["name"] == "Sandbox User"

    found = runner.run_json(*cli, "search", "image", "--compact")
    assert {t["tool"] for t in found["data"]["tools"]} == {image_tool.SUBMIT_TOOL, image_tool.RESULT_TOOL}

    tool = runner.run_json(*cli, "tool", "get", image_tool.SUBMIT_TOOL, "--compact")
    assert tool["data"]["tool"] == image_tool.SUBMIT_TOOL
    assert tool["data"]["pricing"]["cost"] == 300

    arguments = {"prompt": "A shiba inu under cherry blossoms", "size": "1536x1024", "style": "ghibli_anime"}
    submitted = runner.run_json(*cli, "call", image_tool.SUBMIT_TOOL, "--compact", "--args", json.dumps(arguments))
    assert submitted["success"] is True and submitted["meta"]["credits_used"] == 300
    job_id = submitted["data"]["job_id"]

    data: dict = {}
    for _ in range(10):
        polled = runner.run_json(*cli, "call", image_tool.RESULT_TOOL, "--compact", "--timeout", "30",
                                 "--args", json.dumps({"job_id": job_id, "wait_seconds": 5}))
        data = flatten_mcp(polled["data"])
        if data["status"] not in ("pending", "running"):
            break
    assert data["status"] == "done", data
    assert len(data["items"]) == 1
    status, body, headers = http_request("GET", data["items"][0]["url"])
    assert status == 200 and headers["Content-Type"] == "image/png"
    assert png_size(body) == (1536, 1024)

    assert runner.run_json(*cli, "whoami", "--compact")["data"]["credits"] == 2700
    assert sandbox.stats()["submits"] == 1

    runner.run_json(*cli, "logout", "--compact")
    remaining = json.loads(runner.credentials_file.read_text()) if runner.credentials_file.exists() else []
    assert not any(a.get("api_key") for a in (remaining if isinstance(remaining, list) else [remaining]))
    gone = runner.run_json(*cli, "whoami", "--compact", expect_rc=1)
    assert gone["success"] is False
