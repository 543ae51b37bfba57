"""A gateway that is down fails fast; one that drops connections gets the full retry budget."""

from __future__ import annotations

import httpx
import pytest
import respx

from gptimg import errors
from gptimg.gateway import GatewayClient, RetryPolicy

BASE = "https://gateway.test"


def client_with(sleeps: list[float]) -> GatewayClient:
    return GatewayClient(BASE, "uno_refused_test_key_0123456789", retry=RetryPolicy(sleep=sleeps.append, max_attempts=8))


@respx.mock
def test_refused_connections_give_up_after_three_tries() -> None:
    route = respx.get(f"{BASE}/health").mock(side_effect=httpx.ConnectError("Connection refused"))
    sleeps: list[float] = []
    with pytest.raises(errors.ConnectionRefused) as caught:
        client_with(sleeps).health()
    assert route.call_count == 3
    assert len(sleeps) == 2
    assert caught.value.code == "connection_failed"


@respx.mock
def test_dropped_connections_on_a_poll_use_the_whole_budget() -> None:
    route = respx.post(f"{BASE}/v1/call").mock(side_effect=httpx.RemoteProtocolError("Server disconnected"))
    sleeps: list[float] = []
    with pytest.raises(errors.ConnectionFailed):
        client_with(sleeps).poll_result("job1", 0)
    assert route.call_count == 8


@respx.mock
def test_view_is_sent_only_when_asked() -> None:
    route = respx.post(f"{BASE}/v1/call").respond(200, json={"data": {"status": "done"}})
    client = client_with([])
    client.call_tool("gpt-image-2.gpt_image2_result", {"job_id": "j"}, timeout=5, retry=True)
    client.call_tool("gpt-image-2.gpt_image2_result", {"job_id": "j"}, timeout=5, retry=True, view=True)
    import json

    bodies = [json.loads(call.request.content) for call in route.calls]
    assert "view" not in bodies[0] and bodies[1]["view"] is True
