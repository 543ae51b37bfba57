from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Callable

import pytest
import respx

from gptimg.gateway import GatewayClient, RetryPolicy

from ._support import BASE, KEY, FakeTime, TopOfRange


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture(autouse=True)
def httpx_wire(monkeypatch: pytest.MonkeyPatch) -> None:
    """respx intercepts httpx, so every client a unit test builds speaks through the httpx wire.

    (Processes use the standard-library wire, ``gateway.wires``; the wire contract suite in
    ``tests/reliability`` holds both wires to the same failures in the same words.)
    """
    from gptimg.gateway import wires
    from gptimg.gateway._httpx import HttpxWire

    def httpx_only(*, short_lived: bool, max_connections: int, user_agent: str) -> HttpxWire:
        return HttpxWire(max_connections=max_connections, user_agent=user_agent)

    monkeypatch.setattr(wires, "choose_wire", httpx_only)


@pytest.fixture
def gateway() -> Iterator[respx.MockRouter]:
    """Every request is answered by respx; an unmatched one fails the test instead of going out."""
    with respx.mock(base_url=BASE, assert_all_called=False, assert_all_mocked=True) as router:
        yield router


@pytest.fixture
def make_client(fake_time: FakeTime) -> Iterator[Callable[..., GatewayClient]]:
    clients: list[GatewayClient] = []

    def make(api_key: str | None = KEY, **policy: Any) -> GatewayClient:
        policy.setdefault("sleep", fake_time.sleep)
        policy.setdefault("rng", TopOfRange())
        client = GatewayClient(BASE, api_key, retry=RetryPolicy(**policy))
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()
