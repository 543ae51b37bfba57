"""Acceptance: jobs belong to the account that submitted them, through the real CLI."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from gptimg import image_tool

from .conftest import CliRunner, SandboxProcess, flatten_mcp, uno_cli_command


@pytest.mark.e2e
def test_second_account_cannot_read_the_first_accounts_job(sandbox: SandboxProcess,
                                                          cli_runner: Callable[..., CliRunner]) -> None:
    uno = uno_cli_command()
    first_key = sandbox.create_account("First", "first@example.invalid")
    second_key = sandbox.create_account("Second", "second@example.invalid")
    first = cli_runner(sandbox.url, UNO_API_KEY=first_key)
    second = cli_runner(sandbox.url, UNO_API_KEY=second_key)

    submitted = first.run_json(*uno, "call", image_tool.SUBMIT_TOOL, "--compact",
                               "--args", json.dumps({"prompt": "first account's private idea"}))
    job_id = submitted["data"]["job_id"]
    poll_args = json.dumps({"job_id": job_id, "wait_seconds": 5})

    denied = second.run_json(*uno, "call", image_tool.RESULT_TOOL, "--compact", "--args", poll_args, expect_rc=1)
    assert denied["success"] is False and denied["error"] == "job_not_found"
    assert "items" not in json.dumps(denied) and "private idea" not in json.dumps(denied)

    owned = first.run_json(*uno, "call", image_tool.RESULT_TOOL, "--compact", "--args", poll_args)
    assert flatten_mcp(owned["data"])["status"] == "done"
    balances = {a["email"]: a["credits"] for a in sandbox.stats()["accounts"]}
    assert balances["first@example.invalid"] == 2700 and balances["second@example.invalid"] == 3000


@pytest.mark.e2e
def test_short_balance_is_reported_by_uno_cli_with_the_recharge_url(start_sandbox: Callable[..., SandboxProcess],
                                                                   cli_runner: Callable[..., CliRunner]) -> None:
    sandbox = start_sandbox("--credits", "100")
    key = sandbox.create_account("Poor", "poor@example.invalid")
    out = cli_runner(sandbox.url, UNO_API_KEY=key).run_json(
        *uno_cli_command(), "call", image_tool.SUBMIT_TOOL, "--compact", "--args", '{"prompt": "p"}', expect_rc=1)
    assert out["error"] == "insufficient_credits"
    assert out["recharge_url"] == f"{sandbox.url}/pricing"
    assert sandbox.stats()["accounts"][-1] == {"email": "poor@example.invalid", "credits": 100}
