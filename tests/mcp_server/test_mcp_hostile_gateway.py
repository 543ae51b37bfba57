"""``gptimg mcp`` against a gateway that misbehaves: the key never reaches the client, errors keep the CLIs' codes."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from reliability.scripted import Answer, Request, ScriptedGateway

from .conftest import McpServer, all_text, payload, require_sdk, run_scenario

require_sdk()

pytestmark = pytest.mark.e2e

KEY = "uno_echo_" + "0123456789abcdef" * 2


def echo(status: int, code: str) -> Callable[[Request], Answer]:
    """An error answer that repeats the Authorization header everywhere it can."""

    def answer(request: Request) -> Answer:
        sent = request.headers.get("authorization", "")
        body = {"error": code, "message": f"Invalid API key: {sent}", "detail": sent, "meta": {"key": sent}}
        return Answer(status, body, headers={"X-Echo": sent})

    return answer


def test_a_gateway_echoing_the_key_never_gets_it_to_the_client(mcp_server: Any) -> None:
    routes = {f"CALL {SUBMIT_TOOL}": echo(400, "invalid_arguments"), f"CALL {RESULT_TOOL}": echo(500, "crashed")}
    with ScriptedGateway(routes) as gateway:
        server: McpServer = mcp_server("--allow-spend", "300", base_url=gateway.base_url, UNO_API_KEY=KEY)

        async def scenario() -> list[Any]:
            async with server.connect() as session:
                results = [
                    await session.call_tool("generate_image", {"prompt": "a fox"}),
                    await session.call_tool("get_job", {"job_id": "0b84b8f0f0c8", "wait_seconds": 0}),
                    # Refused, so not charged: the allowance (one price) is whole again for the next call.
                    await session.call_tool("generate_image", {"prompt": "a fox"}),
                ]
                gateway.routes["GET /v1/auth/me"] = echo(401, "invalid_api_key")
                results.append(await session.call_tool("account", {}))
                return results

        results = run_scenario(scenario)
        assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 2
    assert all(result.is_error for result in results)
    codes = [payload(result)["error"] for result in results]
    # The gateway's codes, as the CLIs report them.
    assert codes == ["invalid_arguments", "crashed", "invalid_arguments", "invalid_api_key"], codes
    assert payload(results[-1])["exit_code"] == 3
    for result in results:
        assert KEY not in all_text(result) and KEY not in repr(result.structured_content)
    assert KEY not in server.stderr()
    assert [job.status for job in server.jobs() if job.prompt == "a fox"] == ["rejected", "rejected"]
