"""login, logout, accounts, use, whoami in-process against the sandbox: outcomes, envelopes, no key ever shown."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import httpx
import pytest

from gptimg import errors
from gptimg.credentials import CredentialStore
from gptimg.sandbox import SandboxGateway

from ._support import Run


def approve(gateway: SandboxGateway, user_code: str, *, deny: bool = False) -> None:
    """Press Authorise (or Deny) on the sandbox's device page, as the person would."""
    path = "/device/deny" if deny else "/device/approve"
    response = httpx.post(gateway.base_url + path, data={"user_code": user_code, "email": "dev@example.invalid"})
    assert response.status_code == 200


def test_login_with_key_stores_it_and_never_prints_it(
    run: Callable[..., Run], sandbox: SandboxGateway, isolated_home: Path
) -> None:
    key = sandbox.create_account("Ada", "ada@example.invalid")
    result = run("login", "--key", key, "--json")
    assert result.code == 0, result.err
    data = result.json()["data"]
    assert data["email"] == "ada@example.invalid" and data["name"] == "Ada"
    assert data["credential_stored_at"] == str(isolated_home / ".uno" / "credentials.json")
    assert data["credential_file_mode"] == "0600"
    assert key not in result.out + result.err
    assert CredentialStore().active_key().api_key == key


def test_login_with_a_refused_key_exits_3_and_stores_nothing(
    run: Callable[..., Run], sandbox: SandboxGateway, isolated_home: Path
) -> None:
    result = run("login", "--key", "uno_not_a_real_key_123456", "--json")
    assert result.code == errors.EXIT_AUTH
    assert result.json()["error"] == "invalid_api_key"
    assert "uno_not_a_real_key_123456" not in result.out + result.err
    assert not (isolated_home / ".uno" / "credentials.json").exists()


def test_login_start_then_poll_mirrors_the_agent_flow(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    started = run("login", "--start", "--json")
    assert started.code == 0, started.err
    grant = started.json()["data"]
    assert grant["status"] == "pending"
    assert {"device_code", "user_code", "verification_uri", "verification_uri_complete", "expires_in", "interval"} <= set(grant)
    assert "gptimg login --poll" in grant["message"]
    approve(sandbox, grant["user_code"])
    polled = run("login", "--poll", grant["device_code"], "--json")
    assert polled.code == 0, polled.err
    assert polled.json()["data"]["email"] == "dev@example.invalid"
    assert CredentialStore().active_account()["email"] == "dev@example.invalid"  # type: ignore[index]


def test_login_start_for_people_prints_the_poll_command_on_stdout(
    run: Callable[..., Run], sandbox: SandboxGateway
) -> None:
    result = run("login", "--start")
    assert result.code == 0
    assert result.out.startswith("gptimg login --poll ")
    assert "one-time code" in result.err


def test_denied_login_exits_3_with_a_clear_outcome(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    grant = run("login", "--start", "--json").json()["data"]
    approve(sandbox, grant["user_code"], deny=True)
    result = run("login", "--poll", grant["device_code"])
    assert result.code == errors.EXIT_AUTH
    assert "denied" in result.err


def test_interactive_login_shows_the_code_and_logs_in(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cli_sandbox(auto_approve=True)
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, new=0: opened.append(url) or True)
    result = run("login", "--no-browser")
    assert result.code == 0, result.err
    assert "Your one-time code" in result.err and "/device?code=" in result.err
    assert "Logged in as" in result.err and "--no-browser" in result.err
    assert opened == []


def test_interactive_login_opens_the_browser_where_sensible(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_cli_sandbox(auto_approve=True)
    opened: list[str] = []
    monkeypatch.setattr("gptimg.cli.browser.why_not_open", lambda: None)
    monkeypatch.setattr("webbrowser.open", lambda url, new=0: opened.append(url) or True)
    result = run("login", "--json")
    assert result.code == 0, result.err
    assert len(opened) == 1 and "/device?code=" in opened[0]
    assert result.json()["data"]["email"]


def test_interactive_login_that_runs_out_of_time_exits_3(
    run: Callable[..., Run], make_cli_sandbox: Callable[..., SandboxGateway]
) -> None:
    make_cli_sandbox(expires_in=1)
    result = run("login", "--no-browser", "--json")
    assert result.code == errors.EXIT_AUTH
    assert result.json()["error"] in ("login_timeout", "expired_token")


def test_login_options_are_exclusive(run: Callable[..., Run]) -> None:
    assert run("login", "--key", "uno_x", "--start").code == errors.EXIT_BAD_INPUT


def _two_accounts(gateway: SandboxGateway) -> tuple[str, str]:
    first = gateway.create_account("Ada", "ada@example.invalid")
    second = gateway.create_account("Bob", "bob@example.invalid")
    store = CredentialStore()
    store.save_account(first, "Ada", "ada@example.invalid")
    store.save_account(second, "Bob", "bob@example.invalid")
    return first, second


def test_accounts_lists_each_with_the_active_one_marked(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    first, second = _two_accounts(sandbox)
    result = run("accounts", "--json")
    rows = result.json()["data"]
    assert [(r["email"], r["active"]) for r in rows] == [("ada@example.invalid", False), ("bob@example.invalid", True)]
    assert first not in result.out and second not in result.out
    human = run("accounts")
    assert any(line.startswith("*") and "Bob" in line for line in human.out.splitlines())


def test_use_switches_and_whoami_follows(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    _two_accounts(sandbox)
    assert run("use", "ada@example.invalid").code == 0
    me = run("whoami", "--json").json()
    assert me["data"]["email"] == "ada@example.invalid"
    assert me["data"]["credits"] == 3000
    human = run("whoami")
    assert "Ada" in human.out and "3000" in human.out


def test_use_an_unknown_account_is_bad_input(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    _two_accounts(sandbox)
    result = run("use", "carol", "--json")
    assert result.code == errors.EXIT_BAD_INPUT
    assert result.json()["error"] == "account_not_found"


def test_logout_forgets_the_active_account_and_all(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    _two_accounts(sandbox)
    result = run("logout", "--json")
    assert result.json()["data"] == {
        "removed": 1,
        "forgotten": [{"name": "Bob", "email": "bob@example.invalid", "user_id": ""}],
        "active": {"name": "Ada", "email": "ada@example.invalid", "user_id": ""},
    }
    assert run("logout", "--all", "--json").json()["data"]["removed"] == 1
    assert CredentialStore().accounts() == []
    assert run("whoami", "--json").code == errors.EXIT_AUTH


def test_whoami_not_logged_in_exits_3_with_the_login_hint(run: Callable[..., Run], sandbox: SandboxGateway) -> None:
    result = run("whoami")
    assert result.code == errors.EXIT_AUTH
    assert "gptimg login" in result.err and result.out == ""


def test_json_stdout_is_exactly_one_document_for_every_command(
    run: Callable[..., Run], sandbox: SandboxGateway
) -> None:
    _two_accounts(sandbox)
    for args in (["whoami"], ["accounts"], ["styles"], ["jobs"], ["use", "nobody"], ["generate", ""], ["result", " "]):
        result = run(*args, "--json")
        json.loads(result.out)
        assert result.out.count("\n") == 1, (args, result.out)
