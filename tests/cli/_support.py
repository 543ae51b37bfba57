"""Helpers for the human CLI's in-process tests (fixtures live in conftest.py)."""

from __future__ import annotations

from clirun import Run
from gptimg.credentials import CredentialStore
from gptimg.sandbox import SandboxGateway

EMAIL = "tester@example.invalid"


def log_in(gateway: SandboxGateway, *, credits: int | None = None, email: str = EMAIL) -> str:
    """Store a fresh sandbox key as the active account, as ``gptimg login --key`` would."""
    key = gateway.create_account("Tester", email, credits)
    CredentialStore().save_account(key, "Tester", email, "usr_test")
    return key


__all__ = ["EMAIL", "Run", "log_in"]
