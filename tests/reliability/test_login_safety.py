"""Login opens only safe links and keeps a sane pace, whatever the login server sends.

``gptimg login`` runs as a real process with a display and a ``BROWSER`` that
records what it was asked to open, against a scripted device-flow server.
"""

from __future__ import annotations

import math
import stat
from pathlib import Path
from typing import Callable

import pytest

from .conftest import Cli, Ran
from .scripted import Answer, ScriptedGateway

#: Every test here runs the real CLIs as processes.
pytestmark = pytest.mark.e2e

SAFE_LINK = "https://gateway.invalid/device?code=ABCD-EFGH"


def grant(**fields: object) -> Answer:
    body = {"device_code": "dev-123", "user_code": "ABCD-EFGH", "verification_uri": "https://gateway.invalid/device",
            "expires_in": 600, "interval": 1}
    body.update(fields)
    return Answer(body=body)


def login_with_browser(user: Cli, tmp_path: Path, *args: str) -> tuple[Ran, list[str]]:
    """``gptimg login`` where a browser could open; returns the run and the argument lists it was given."""
    opened = tmp_path / "opened.txt"
    recorder = tmp_path / "browser.sh"
    recorder.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "{opened}"\necho --- >> "{opened}"\n')
    recorder.chmod(recorder.stat().st_mode | stat.S_IXUSR)
    quiet = {name: "" for name in ("CI", "BUILD_NUMBER", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "TF_BUILD",
                                   "JENKINS_URL", "SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")}
    ran = user.gptimg("login", *args, env={**quiet, "GPTIMG_NO_BROWSER": "0", "DISPLAY": ":99",
                                           "BROWSER": f"{recorder} %s"})
    return ran, opened.read_text().split("---\n")[:-1] if opened.exists() else []


@pytest.mark.parametrize("link", [
    pytest.param("javascript:alert(document.cookie)", id="javascript"),
    pytest.param("file:///etc/passwd", id="file"),
    pytest.param("data:text/html,<script>alert(1)</script>", id="data"),
    pytest.param("--renderer-cmd-prefix=/bin/sh", id="browser-flag"),
    pytest.param("http://gateway.invalid/device", id="plain-http-elsewhere"),
    pytest.param("https://gateway.invalid/\x1b]52;c;eA==\x07", id="control-characters"),
])
def test_login_never_opens_a_link_that_is_not_https(
    link: str, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path
) -> None:
    gateway = make_scripted({"POST /oauth/device/code": grant(verification_uri_complete=link),
                             "POST /oauth/token": Answer(400, {"error": "access_denied"})})
    ran, opened = login_with_browser(cli(gateway.base_url), tmp_path)
    assert opened == [], f"the browser was asked to open {opened}"
    assert "Traceback" not in ran.err and "\x1b" not in ran.err, ran
    assert "ABCD-EFGH" in ran.err  # the code is still shown, to be approved by hand


def test_login_opens_an_https_link(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path
) -> None:
    gateway = make_scripted({"POST /oauth/device/code": grant(verification_uri_complete=SAFE_LINK),
                             "POST /oauth/token": Answer(400, {"error": "access_denied"})})
    ran, opened = login_with_browser(cli(gateway.base_url), tmp_path)
    assert opened == [f"{SAFE_LINK}\n"], ran


def test_a_login_server_asking_to_be_polled_constantly_is_polled_at_most_once_a_second(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = make_scripted({"POST /oauth/device/code": grant(interval=0.001, expires_in=3),
                             "POST /oauth/token": Answer(400, {"error": "authorization_pending"})})
    ran = cli(gateway.base_url).gptimg("login", timeout=60)
    assert ran.code != 0 and "Traceback" not in ran.err, ran
    assert 1 <= len(gateway.seen("POST /oauth/token")) <= 4


@pytest.mark.parametrize(("expires_in", "interval", "shown_expires_in", "shown_interval"), [
    pytest.param(math.inf, math.inf, 1800, 5, id="infinite"),
    pytest.param(math.nan, math.nan, 1800, 5, id="nan"),
    pytest.param(10**9, 10**9, 3600, 60, id="huge"),
    pytest.param(600, 0.2, 600, 1, id="too-fast"),
])
def test_device_flow_lifetimes_and_intervals_are_clamped(
    expires_in: float, interval: float, shown_expires_in: int, shown_interval: int,
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
) -> None:
    gateway = make_scripted({"POST /oauth/device/code": grant(expires_in=expires_in, interval=interval),
                             "POST /oauth/token": Answer(400, {"error": "access_denied"})})
    user = cli(gateway.base_url)
    started = user.gptimg("login", "--start", "--json")
    assert started.code == 0, started
    assert (started.json()["data"]["expires_in"], started.json()["data"]["interval"]) == (
        shown_expires_in, shown_interval)
    agent = user.uno("login", "--start")
    assert (agent.json()["expires_in"], agent.json()["interval"]) == (shown_expires_in, shown_interval), agent
    ran = user.gptimg("login")
    assert "Traceback" not in ran.err and ran.code != 0, ran  # denied, cleanly
