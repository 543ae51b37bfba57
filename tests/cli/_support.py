"""Helpers for the human CLI's in-process tests (fixtures live in conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gptimg.credentials import CredentialStore
from gptimg.sandbox import SandboxConfig, SandboxGateway

EMAIL = "tester@example.invalid"


@dataclass
class Run:
    """One ``gptimg`` invocation's exit code and streams."""

    code: int
    out: str
    err: str

    def json(self) -> dict[str, Any]:
        """The one JSON document stdout must hold under --json (fails loudly on anything else)."""
        lines = [line for line in self.out.splitlines() if line.strip()]
        assert len(lines) == 1, f"expected one JSON line on stdout, got: {self.out!r}"
        return json.loads(lines[0])


def start_sandbox(**config: Any) -> SandboxGateway:
    config.setdefault("delay", 0.3)
    config.setdefault("interval", 1)
    return SandboxGateway(SandboxConfig(**config)).start()


def log_in(gateway: SandboxGateway, *, credits: int | None = None, email: str = EMAIL) -> str:
    """Store a fresh sandbox key as the active account, as ``gptimg login --key`` would."""
    key = gateway.create_account("Tester", email, credits)
    CredentialStore().save_account(key, "Tester", email, "usr_test")
    return key
