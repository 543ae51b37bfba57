"""Issue #11 §4: both /v1/auth/me shapes, the balance rule that follows from them, and ``gptimg usage``."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from gptimg import errors
from gptimg.balance import balance_rows, spendable_credits
from gptimg.jobs import JobJournal
from gptimg.sandbox import SandboxGateway

from ._support import Run, log_in


def test_spendable_credits_is_known_only_when_the_answer_says_it() -> None:
    assert spendable_credits({"credits": 1200}) == 1200
    assert spendable_credits({"plan": "pro", "free_credits_remaining": 200, "balance": 950.5}) == 1150.5
    assert spendable_credits({"plan": "pro", "free_credits_remaining": 200}) is None  # the wallet is unknown
    assert spendable_credits({"plan": "pro", "balance": True}) is None
    assert spendable_credits({"id": "u"}) is None
    assert balance_rows({"free_credits_remaining": 200, "balance": 0.0}) == [("free credits", "200"), ("balance", "0")]


def test_whoami_shows_the_sdk_shape_as_it_is(run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]) -> None:
    gateway = make_cli_sandbox(account_shape="sdk")
    log_in(gateway, credits=1200)
    shown = run("whoami")
    assert shown.code == 0, shown.err
    assert "free credits" in shown.out and "500" in shown.out and "balance" in shown.out and "700" in shown.out
    data = run("--json", "whoami").json()["data"]
    assert (data["free_credits_remaining"], data["balance"]) == (500, 700.0)


def test_a_short_sdk_balance_stops_the_submit_before_anything_is_sent(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], tmp_path: Path
) -> None:
    gateway = make_cli_sandbox(account_shape="sdk")
    log_in(gateway, credits=100)
    refused = run("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path))
    assert refused.code == errors.EXIT_CREDITS, refused.out
    assert gateway.stats()["submits"] == 0


def test_the_cost_confirmation_shows_an_sdk_accounts_plan_free_credits_and_wallet(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import io
    import sys

    gateway = make_cli_sandbox(account_shape="sdk")
    log_in(gateway, credits=1200)
    stdin = io.StringIO("n\n")
    stdin.isatty = lambda: True  # type: ignore[method-assign]
    monkeypatch.setattr(sys, "stdin", stdin)
    declined = run("generate", "a red fox")
    assert declined.code == errors.EXIT_FAILURE and gateway.stats()["submits"] == 0
    shown = {line.split()[0] + (" " + line.split()[1] if line.startswith(("free", "can")) else ""): line
             for line in declined.err.splitlines() if line.strip()}
    assert "500" in shown["free credits"] and "700" in shown["balance"], declined.err
    assert "1200 now, 900 after" in shown["can spend"], declined.err


def test_usage_reports_today_and_the_charged_calls(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], tmp_path: Path
) -> None:
    gateway = make_cli_sandbox(account_shape="sdk")
    log_in(gateway, credits=3000)
    assert run("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path)).code == 0
    report = run("--json", "usage").json()["data"]
    assert report["today"]["credits"] == 300 and report["today"]["calls"] >= 2  # the submit and its polls
    assert report["last_7_days"]["credits"] == 300
    [charged] = report["charged_calls"]
    assert (charged["tool"], charged["credits"], charged["success"]) == ("gpt-image-2.gpt_image2_submit", 300, True)
    human = run("usage")
    assert "Today: 300 credits" in human.out and "gpt_image2_submit" in human.out


def test_jobs_points_unknown_rows_to_usage(run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str) -> None:
    with JobJournal() as journal:
        row = journal.record_submit(gateway=sandbox.base_url, prompt="a fox", style=None, size=None, n=1)
        journal.mark_unknown(row, "the connection dropped after sending")
    listed = run("jobs")
    assert listed.code == 0 and "gptimg usage" in listed.err
