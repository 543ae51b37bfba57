"""Fixtures for the human CLI's in-process tests: a sandbox gateway on loopback and a ``main()`` runner."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest

from gptimg.cli import main
from gptimg.sandbox import SandboxGateway

from ._support import Run, log_in, start_sandbox


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def invoke(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err, one_line=True)

    return invoke


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[SandboxGateway]:
    """A fast sandbox that every command in the test talks to (through UNO_API_URL)."""
    gateway = start_sandbox()
    monkeypatch.setenv("UNO_API_URL", gateway.base_url)
    yield gateway
    gateway.stop()


@pytest.fixture
def make_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., SandboxGateway]]:
    """For tests that need another delay or credits: ``make_sandbox(delay=30)``."""
    started: list[SandboxGateway] = []

    def make(**config: Any) -> SandboxGateway:
        gateway = start_sandbox(**config)
        started.append(gateway)
        monkeypatch.setenv("UNO_API_URL", gateway.base_url)
        return gateway

    yield make
    for gateway in started:
        gateway.stop()


@pytest.fixture
def logged_in(sandbox: SandboxGateway) -> str:
    return log_in(sandbox)
