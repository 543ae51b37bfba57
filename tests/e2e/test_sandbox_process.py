"""The foreground server as a process: its first line, loopback-only binding, clean stops."""

from __future__ import annotations

import re
import signal
import subprocess
from typing import Callable

import pytest

from .conftest import SandboxProcess, base_env, http_request, sandbox_command


@pytest.mark.e2e
def test_first_line_names_a_free_port_and_the_server_answers(start_sandbox: Callable[..., SandboxProcess]) -> None:
    one = start_sandbox()
    two = start_sandbox()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", one.url)
    assert one.url != two.url
    status, body, _ = http_request("GET", f"{one.url}/health")
    assert (status, body) == (200, b'{"status": "ok", "sandbox": true}')


@pytest.mark.e2e
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_signals_stop_it_cleanly(start_sandbox: Callable[..., SandboxProcess], sig: int) -> None:
    sandbox = start_sandbox()
    assert sandbox.stop(sig) == 0
    assert "Traceback" not in sandbox.stderr()


@pytest.mark.e2e
@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.0.10", "::", "example.com"])
def test_non_loopback_host_is_refused_without_binding(host: str) -> None:
    result = subprocess.run(sandbox_command("--host", host, "--port", "0"), capture_output=True, text=True,
                            env=base_env(), timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "loopback" in lines[0] and host in lines[0]


@pytest.mark.e2e
def test_busy_port_is_a_one_line_error(sandbox: SandboxProcess) -> None:
    port = sandbox.url.rsplit(":", 1)[1]
    result = subprocess.run(sandbox_command("--port", port), capture_output=True, text=True,
                            env=base_env(), timeout=30, stdin=subprocess.DEVNULL)
    assert result.returncode == 1 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and port in result.stderr


@pytest.mark.e2e
def test_verbose_logs_requests_without_keys(start_sandbox: Callable[..., SandboxProcess]) -> None:
    sandbox = start_sandbox("--verbose")
    key = sandbox.create_account("V", "v@example.invalid")
    http_request("GET", f"{sandbox.url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"})
    sandbox.stop()
    log = sandbox.stderr()
    assert "GET /v1/auth/me -> 200" in log
    assert key not in log and "Bearer" not in log
