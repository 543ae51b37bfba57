"""In-process sandboxes for the unit tests: started on an ephemeral loopback port, always stopped."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Callable

import httpx
import pytest

from gptimg.sandbox import SandboxGateway


@pytest.fixture
def sandbox(make_sandbox: Callable[..., SandboxGateway]) -> SandboxGateway:
    return make_sandbox()


@pytest.fixture(scope="session")
def _tls_context() -> ssl.SSLContext:
    """Built once: httpx makes a fresh SSL context per client otherwise (~0.1 s), and we never use TLS."""
    return ssl.create_default_context()


@pytest.fixture
def http(_tls_context: ssl.SSLContext) -> Iterator[httpx.Client]:
    with httpx.Client(trust_env=False, timeout=30, verify=_tls_context) as client:
        yield client
