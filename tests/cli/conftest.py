"""Fixtures for the human CLI's in-process tests: a sandbox gateway on loopback and a ``main()`` runner."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from gptimg.cli import main
from gptimg.sandbox import SandboxGateway

from ._support import Run, log_in


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    def invoke(*args: str) -> Run:
        capsys.readouterr()
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err, one_line=True)

    return invoke


@pytest.fixture
def make_cli_sandbox(
    make_sandbox: Callable[..., SandboxGateway], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., SandboxGateway]:
    """The root ``make_sandbox``, and every command in the test talks to the newest one (UNO_API_URL).

    Device codes poll every second here, so login tests do not wait uno-cli's 5 s.
    """

    def make(**config: Any) -> SandboxGateway:
        config.setdefault("interval", 1)
        gateway = make_sandbox(**config)
        monkeypatch.setenv("UNO_API_URL", gateway.base_url)
        return gateway

    return make


@pytest.fixture
def sandbox(make_cli_sandbox: Callable[..., SandboxGateway]) -> SandboxGateway:
    """A fast sandbox that every command in the test talks to."""
    return make_cli_sandbox()


@pytest.fixture
def logged_in(sandbox: SandboxGateway) -> str:
    return log_in(sandbox)
