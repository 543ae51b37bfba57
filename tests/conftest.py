"""Every test runs with a throw-away HOME and GPTIMG_HOME, and no real key in reach.

Tests always exercise this checkout's ``src``, in-process and in every subprocess,
whatever copy of gptimg happens to be installed (an editable install of another
clone would otherwise be tested instead, silently).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

if TYPE_CHECKING:
    from gptimg.sandbox import SandboxGateway

SRC = str(Path(__file__).resolve().parent.parent / "src")
if sys.path[0] != SRC:
    sys.path.insert(0, SRC)
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [SRC, os.environ.get("PYTHONPATH")]))
for _name in [m for m in sys.modules if m == "gptimg" or m.startswith("gptimg.")]:
    del sys.modules[_name]


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


@pytest.fixture(autouse=True)
def real_processes_need_the_e2e_mark(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that starts a real process must say so (``@pytest.mark.e2e``), so ``-m "not e2e"`` is truly fast."""
    if request.node.get_closest_marker("e2e") is not None:
        return
    import subprocess

    def refuse(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"{request.node.nodeid} starts a real process: mark it @pytest.mark.e2e")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


@pytest.fixture
def make_sandbox() -> Iterator[Callable[..., SandboxGateway]]:
    """``make_sandbox(delay=0.3, fail_rate=0.3, seed=4)``: an in-process sandbox, stopped at teardown."""
    from gptimg.sandbox import SandboxConfig, SandboxGateway

    started: list[SandboxGateway] = []

    def make(**config: Any) -> SandboxGateway:
        config.setdefault("delay", 0.3)
        gateway = SandboxGateway(SandboxConfig(**config)).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()
