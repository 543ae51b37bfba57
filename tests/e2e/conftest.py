"""Shared end-to-end fixtures: a sandbox gateway in a subprocess, and CLIs run against it.

Everything runs on 127.0.0.1 with a throw-away HOME/GPTIMG_HOME per CLI
environment, no UNO_API_KEY and no proxies, so an e2e test can neither touch
the real home directory nor reach the internet.

Typical use::

    def test_something(sandbox, cli_runner):
        runner = cli_runner(sandbox.url)
        result = runner.run_json("uno", "whoami")
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import threading
import urllib.parse
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest

REPO = Path(__file__).resolve().parents[2]
SANDBOX_START_TIMEOUT = 20.0
_PROXY_VARS = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
_UNO_VARS = ("UNO_API_KEY", "UNO_API_URL", "UNO_OAUTH_SCOPE", "UNO_ALLOWED_TOOLS", "UNO_CALLER_SKILL")


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_request(method: str, url: str, *, json_body: Any = None, form: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, timeout: float = 30) -> tuple[int, bytes, dict[str, str]]:
    """A loopback HTTP call with the standard library: (status, body, headers), errors included."""
    data = None
    hdrs = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
    request = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with _no_proxy_opener().open(request, timeout=timeout) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers)


@dataclass
class SandboxProcess:
    """A ``python -m gptimg.sandbox`` subprocess and the URL it printed."""

    url: str
    process: subprocess.Popen[str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""

    def stats(self) -> dict[str, Any]:
        status, body, _ = http_request("GET", f"{self.url}/_sandbox/stats")
        assert status == 200, body
        return json.loads(body)

    def create_account(self, name: str, email: str, credits: int | None = None) -> str:
        """A new API key for ``email`` (test-only endpoint)."""
        payload: dict[str, Any] = {"name": name, "email": email}
        if credits is not None:
            payload["credits"] = credits
        status, body, _ = http_request("POST", f"{self.url}/_sandbox/accounts", json_body=payload)
        assert status == 200, body
        return json.loads(body)["api_key"]

    def approve(self, user_code: str, email: str | None = None) -> int:
        """What the Authorise button does; returns the HTTP status."""
        form = {"user_code": user_code, **({"email": email} if email else {})}
        return http_request("POST", f"{self.url}/device/approve", form=form)[0]

    def deny(self, user_code: str) -> int:
        return http_request("POST", f"{self.url}/device/deny", form={"user_code": user_code})[0]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send ``sig`` and wait; returns the exit code (kills it if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)
        if self.process.stdout:
            self.process.stdout.close()
        return self.process.returncode


def sandbox_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "gptimg.sandbox", *args]


def base_env() -> dict[str, str]:
    """os.environ minus proxies and every UNO_* variable, with NO_PROXY=* and PYTHONPATH to src."""
    env = {k: v for k, v in os.environ.items() if k not in _PROXY_VARS and k not in _UNO_VARS}
    env["NO_PROXY"] = env["no_proxy"] = "*"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "src"), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def start_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., SandboxProcess]]:
    """Factory: ``start_sandbox("--delay", "0.5")`` runs the sandbox on a free port; all are stopped at teardown."""
    started: list[SandboxProcess] = []

    def start(*args: str, timeout: float = SANDBOX_START_TIMEOUT) -> SandboxProcess:
        logdir = tmp_path_factory.mktemp("sandbox")
        stderr_path = logdir / "stderr.txt"
        with stderr_path.open("w") as stderr:
            process = subprocess.Popen(
                sandbox_command("--port", "0", *args), stdout=subprocess.PIPE, stderr=stderr,
                stdin=subprocess.DEVNULL, text=True, env=base_env(), cwd=logdir,
            )
        first: list[str] = []
        reader = threading.Thread(target=lambda: first.append(process.stdout.readline()), daemon=True)  # type: ignore[union-attr]
        reader.start()
        reader.join(timeout)
        sandbox = SandboxProcess(url="", process=process, stderr_path=stderr_path)
        started.append(sandbox)
        line = first[0].rstrip("\n") if first else ""
        prefix = "sandbox gateway listening on "
        if not line.startswith(prefix):
            sandbox.stop(signal.SIGKILL)
            raise AssertionError(f"sandbox did not start: first line {line!r}; stderr: {sandbox.stderr()}")
        sandbox.url = line[len(prefix):]
        return sandbox

    yield start
    for sandbox in started:
        sandbox.stop()


@pytest.fixture
def sandbox(start_sandbox: Callable[..., SandboxProcess]) -> SandboxProcess:
    """A sandbox with short jobs (0.5 s) and default credits."""
    return start_sandbox("--delay", "0.5")


@dataclass
class CliRunner:
    """Runs commands with an isolated HOME and UNO_API_URL pointing at a sandbox."""

    env: dict[str, str]
    home: Path
    cwd: Path = field(default_factory=Path.cwd)

    def run(self, *argv: str, timeout: float = 60, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:
        merged = {**self.env, **(env or {})}
        return subprocess.run(list(argv), env=merged, cwd=self.cwd, capture_output=True, text=True,
                              timeout=timeout, input=input, stdin=None if input is not None else subprocess.DEVNULL)

    def run_json(self, *argv: str, expect_rc: int | None = 0, **kwargs: Any) -> dict[str, Any]:
        """Run and parse stdout as one JSON document; assert the exit code unless ``expect_rc`` is None."""
        result = self.run(*argv, **kwargs)
        detail = f"argv={argv!r}\nrc={result.returncode}\nstdout={result.stdout}\nstderr={result.stderr}"
        if expect_rc is not None:
            assert result.returncode == expect_rc, detail
        try:
            return json.loads(result.stdout)
        except ValueError as err:
            raise AssertionError(f"stdout is not one JSON document: {err}\n{detail}") from None

    @property
    def credentials_file(self) -> Path:
        return self.home / ".uno" / "credentials.json"


def make_cli_env(base_url: str, home: Path, **extra: str) -> dict[str, str]:
    """Environment for a CLI under test: temp HOME and GPTIMG_HOME, UNO_API_URL=base_url, no key, no proxy."""
    env = base_env()
    env.update({
        "HOME": str(home),
        "USERPROFILE": str(home),
        "GPTIMG_HOME": str(home / "gptimg-data"),
        "UNO_API_URL": base_url,
        "NO_COLOR": "1",
    })
    env.update(extra)
    return env


@pytest.fixture
def cli_runner(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., CliRunner]:
    """Factory: ``cli_runner(sandbox.url, UNO_OAUTH_SCOPE="mcp:gpt-image-2")``; each call gets a fresh HOME."""

    def make(base_url: str, **extra: str) -> CliRunner:
        home = tmp_path_factory.mktemp("clihome")
        return CliRunner(env=make_cli_env(base_url, home, **extra), home=home, cwd=home)

    return make


def uno_cli_command() -> list[str]:
    """The official uno-cli 1.0.7 (the ``uno`` script, else its module)."""
    found = shutil.which("uno")
    return [found] if found else [sys.executable, "-m", "uno_cli"]


def bin_uno_command() -> list[str]:
    return [sys.executable, str(REPO / "bin" / "uno.py")]


def flatten_mcp(data: Any) -> Any:
    """uno-cli 1.0.7 prints MCP-style ``{"content": [{"type": "text", "text": json}]}`` as is; unwrap it."""
    if isinstance(data, dict) and isinstance(data.get("content"), list) and data["content"]:
        first = data["content"][0]
        if isinstance(first, dict) and first.get("type") == "text":
            try:
                return json.loads(first["text"])
            except (ValueError, TypeError):
                return data
    return data


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, after checking its signature and the IHDR chunk's CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    assert data[12:16] == b"IHDR", "first chunk is not IHDR"
    length = struct.unpack(">I", data[8:12])[0]
    (crc,) = struct.unpack(">I", data[16 + length : 20 + length])
    assert crc == zlib.crc32(data[12 : 16 + length]) & 0xFFFFFFFF, "bad IHDR CRC"
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND at the end: truncated?"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@dataclass
class PtyRun:
    """What a command wrote to its terminal (stdout and stderr together, as a person sees them)."""

    output: str
    returncode: int


def run_in_pty(argv: list[str], *, env: dict[str, str], cwd: Path, columns: int = 80, rows: int = 24,
               answer: tuple[str, str] | None = None, timeout: float = 60) -> PtyRun:
    """Run ``argv`` on a pseudo-terminal of ``columns`` x ``rows``; ``answer=(seen, typed)`` types
    ``typed`` once ``seen`` is on the screen. Waits on the terminal's output, never a fixed sleep."""
    import fcntl
    import pty
    import select
    import termios
    import time

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env={**env, "TERM": "xterm"},
                               cwd=cwd, start_new_session=True)
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the command ended and closed the terminal
                break
            if not data:
                break
            screen += data
            if answer is not None and answer[0].encode() in screen:
                os.write(master, answer[1].encode())
                answer = None
        else:
            process.kill()
            raise AssertionError(f"{argv} did not finish in {timeout} s; screen so far:\n{screen!r}")
        return PtyRun(screen.decode("utf-8", "replace"), process.wait(timeout=30))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()
