"""Helpers for the human CLI's in-process tests (fixtures live in conftest.py)."""

from __future__ import annotations

from typing import Any

from clirun import Run
from gptimg.credentials import CredentialStore
from gptimg.sandbox import SandboxConfig, SandboxGateway

EMAIL = "tester@example.invalid"


def start_sandbox(**config: Any) -> SandboxGateway:
    config.setdefault("delay", 0.3)
    config.setdefault("interval", 1)
    return SandboxGateway(SandboxConfig(**config)).start()


def log_in(gateway: SandboxGateway, *, credits: int | None = None, email: str = EMAIL) -> str:
    """Store a fresh sandbox key as the active account, as ``gptimg login --key`` would."""
    key = gateway.create_account("Tester", email, credits)
    CredentialStore().save_account(key, "Tester", email, "usr_test")
    return key


__all__ = ["EMAIL", "Run", "log_in", "start_sandbox"]
