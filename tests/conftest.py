"""Every test runs with a throw-away HOME and GPTIMG_HOME, and no real key in reach."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))
    monkeypatch.setenv("GPTIMG_HOME", str(home / "gptimg-data"))
    monkeypatch.setenv("NO_COLOR", "1")
    for name in ("UNO_API_KEY", "UNO_API_URL", "UNO_OAUTH_SCOPE", "UNO_ALLOWED_TOOLS", "UNO_CALLER_SKILL"):
        monkeypatch.delenv(name, raising=False)
    # Proxies would route loopback traffic elsewhere; tests never leave this machine.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    assert Path(os.environ["HOME"]) == home
    return home
