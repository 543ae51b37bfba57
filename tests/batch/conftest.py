"""Fixtures for the batch tests: an in-process sandbox with small delays, a client and a journal per test."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from gptimg.batch.manifest import ManifestLine, parse_manifest
from gptimg.batch.ratelimit import RateLimiter
from gptimg.batch.runner import BatchRunner, BatchSettings
from gptimg.gateway import BackoffGate, GatewayClient, RetryPolicy
from gptimg.jobs import JobJournal
from gptimg.sandbox import SandboxConfig, SandboxGateway

_emails = itertools.count()


def jsonl(*objects: dict[str, Any]) -> str:
    return "\n".join(json.dumps(o) for o in objects) + "\n"


def manifest_lines(count: int, *, prefix: str = "line", **extra: Any) -> list[ManifestLine]:
    text = jsonl(*({"prompt": f"{prefix} prompt {i}", "name": f"{prefix}-{i}", **extra} for i in range(1, count + 1)))
    return parse_manifest(text, fmt="jsonl", base=Path.cwd())


@pytest.fixture
def sandbox_config() -> SandboxConfig:
    """Override in a test module (or parametrise) for other delays or fail rates."""
    return SandboxConfig(delay=0.2, retry_after=0)


@pytest.fixture
def sandbox(sandbox_config: SandboxConfig) -> Iterator[SandboxGateway]:
    with SandboxGateway(sandbox_config) as gateway:
        yield gateway


@pytest.fixture
def api_key(sandbox: SandboxGateway) -> str:
    return sandbox.create_account(email=f"batch-{next(_emails)}@example.invalid", credits=300_000)


@pytest.fixture
def gate() -> BackoffGate:
    return BackoffGate()


@pytest.fixture
def client(sandbox: SandboxGateway, api_key: str, gate: BackoffGate) -> Iterator[GatewayClient]:
    with GatewayClient(sandbox.base_url, api_key, retry=RetryPolicy(base_delay=0.01, gate=gate)) as gateway_client:
        yield gateway_client


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[JobJournal]:
    with JobJournal(tmp_path / "journal.sqlite3") as job_journal:
        yield job_journal


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    return tmp_path / "out"


@pytest.fixture
def make_runner(
    client: GatewayClient, journal: JobJournal, gate: BackoffGate, out_dir: Path
) -> Callable[..., BatchRunner]:
    def make(lines: list[ManifestLine], *, limiter: RateLimiter | None = None, **settings: Any) -> BatchRunner:
        settings.setdefault("concurrency", 4)
        return BatchRunner(client, journal, lines, BatchSettings(out_dir=out_dir, **settings), limiter=limiter,
                           gate=gate)

    return make
