"""Fixtures for the CLI-level reliability, signal, bad-input and security tests.

Gateways (the sandbox, a FaultProxy in front of it, a scripted server) run in the
test process on 127.0.0.1; the CLIs run either as real subprocesses (``Cli``,
when exit codes, signals and stderr must be the real thing) or in-process
(``inproc``, for wide matrices where process start-up would dominate). Every CLI
gets a throw-away HOME and GPTIMG_HOME from the shared e2e helpers.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import pytest

from clirun import Run as Ran
from e2e.conftest import REPO, make_cli_env
from gptimg.credentials import CredentialStore

from .faultproxy import FaultProxy, Rule
from .scripted import Route, ScriptedGateway

GPTIMG = (sys.executable, "-m", "gptimg")
UNO = (sys.executable, str(REPO / "bin" / "uno.py"))


@dataclass
class Cli:
    """A throw-away HOME for the CLIs, pointed at ``base_url``."""

    env: dict[str, str]
    home: Path

    @property
    def data_dir(self) -> Path:
        return self.home / "gptimg-data"

    @property
    def credentials(self) -> Path:
        return self.home / ".uno" / "credentials.json"

    def login(self, key: str, email: str = "tester@example.invalid", name: str = "Tester") -> None:
        """Store ``key`` as the active account directly (what ``login --key`` ends with), without a process."""
        CredentialStore(self.credentials).save_account(key, name, email, "usr_test")

    def run(self, *argv: str, timeout: float = 60, env: dict[str, str] | None = None, stdin: str | None = None) -> Ran:
        """Run to the end; ``stdin`` is piped in when given (else stdin is empty)."""
        done = subprocess.run(
            list(argv), env={**self.env, **(env or {})}, cwd=self.home, capture_output=True, text=True,
            timeout=timeout, **({"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}),
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def gptimg(self, *args: str, **kwargs: Any) -> Ran:
        return self.run(*GPTIMG, *args, **kwargs)

    def uno(self, *args: str, **kwargs: Any) -> Ran:
        return self.run(*UNO, *args, **kwargs)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        """Started with SIGINT at its default, as a shell with job control would (else Python ignores it)."""
        return subprocess.Popen(
            list(argv), env=self.env, cwd=self.home, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )

    def journal_rows(self) -> list[dict[str, Any]]:
        path = self.data_dir / "journal.sqlite3"
        if not path.exists():
            return []
        with sqlite3.connect(str(path), timeout=5) as db:
            db.row_factory = sqlite3.Row
            try:
                return [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY id")]
            except sqlite3.OperationalError:  # created but not migrated yet
                return []


@pytest.fixture
def cli(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Cli]:
    """``cli(url)``: a fresh HOME whose CLIs talk to ``url`` (UNO_API_URL)."""

    def make(base_url: str, **extra: str) -> Cli:
        home = tmp_path_factory.mktemp("clihome")
        return Cli(env=make_cli_env(base_url, home, GPTIMG_NO_BROWSER="1", **extra), home=home)

    return make


@pytest.fixture
def inproc(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Callable[..., Ran]:
    """``inproc(cli, "gptimg"|"uno", *args)``: the same command in this process, with that Cli's environment."""

    def invoke(target: Cli, which: str, *args: str, env: dict[str, str] | None = None) -> Ran:
        from gptimg.cli import main as gptimg_main
        from gptimg.unocli import main as uno_main

        entry = gptimg_main if which == "gptimg" else uno_main
        with monkeypatch.context() as patch:
            for name, value in {**target.env, **(env or {})}.items():
                if name in ("HOME", "GPTIMG_HOME", "UNO_API_URL", "UNO_API_KEY", "NO_COLOR", "GPTIMG_NO_BROWSER"):
                    patch.setenv(name, value)
            patch.chdir(target.home)
            capsys.readouterr()
            code = entry(list(args))
            captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return invoke


@pytest.fixture
def release() -> threading.Event:
    """Set at teardown so every hung or held proxy request lets go."""
    return threading.Event()


@pytest.fixture
def make_proxy(release: threading.Event) -> Iterator[Callable[..., FaultProxy]]:
    """``make_proxy(upstream_url, rule)``: a started FaultProxy, released and stopped at teardown."""
    started: list[FaultProxy] = []

    def make(upstream: str, rule: Rule | None = None) -> FaultProxy:
        proxy = FaultProxy(upstream, rule).start()
        started.append(proxy)
        return proxy

    yield make
    release.set()
    for proxy in started:
        proxy.stop()


@pytest.fixture
def make_scripted() -> Iterator[Callable[..., ScriptedGateway]]:
    """``make_scripted({"GET /v1/auth/me": Answer(...)})``: a started scripted gateway."""
    started: list[ScriptedGateway] = []

    def make(routes: dict[str, Route] | None = None, **kwargs: Any) -> ScriptedGateway:
        gateway = ScriptedGateway(routes, **kwargs).start()
        started.append(gateway)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


def saved_files(directory: Path) -> list[Path]:
    """Everything under ``directory`` (recursively), hidden files included."""
    return sorted(p for p in directory.rglob("*") if p.is_file()) if directory.exists() else []


def assert_only_complete_pngs(directory: Path) -> list[Path]:
    """No temp/partial file anywhere under ``directory``; every file is a complete PNG directly inside it."""
    from e2e.conftest import png_size

    files = saved_files(directory)
    for path in files:
        assert path.parent == directory, f"{path} is not directly inside {directory}"
        assert not path.name.startswith("."), f"a hidden temp file was left: {path}"
        assert not path.name.endswith((".part", ".tmp")), f"a partial file was left: {path}"
        png_size(path.read_bytes())
    return files
