"""One contract, two wires: httpx and ``http.client`` fail in exactly the same words.

Every process speaks through the pooled standard-library wire, and through httpx behind a
``socks5://`` proxy (``gateway.wires``); unit tests mock HTTP on the httpx wire.
Each fault the fault proxy can make is sent to a ``GatewayClient`` on each wire;
the error type, code, exit code and message must be identical, and right.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
from typing import Any, Callable

import pytest

from gptimg import errors
from gptimg.gateway import GatewayClient
from gptimg.gateway.retry import NO_RETRY
from gptimg.gateway.stdlib_wire import StdlibWire
from gptimg.image_tool import RESULT_TOOL

from .faultproxy import Fault, FaultProxy
from .scripted import ScriptedGateway
from .test_secrets import free_port

KEY = "uno_contract_" + "2" * 32
#: What the result poll answers when nothing goes wrong (the scripted gateway's done answer).
CALL_TIMEOUT = 1.0


def outcome(client: GatewayClient) -> tuple[Any, ...]:
    """What one result poll ends as: its data, or its error in every word the user sees."""
    try:
        result = client.call_tool(RESULT_TOOL, {"job_id": "job123456", "wait_seconds": 0}, timeout=CALL_TIMEOUT,
                                  retry=False, deadline=time.monotonic() + 3)
    except errors.GptimgError as exc:
        return type(exc).__name__, exc.code, exc.exit_code, exc.message, exc.hint
    return "ok", result.data.get("status")


def both_wires(base_url: str) -> dict[str, tuple[Any, ...]]:
    outcomes = {}
    for name in ("httpx", "stdlib"):
        wire = StdlibWire("gptimg-test") if name == "stdlib" else None
        with GatewayClient(base_url, KEY, wire=wire, retry=NO_RETRY) as client:
            outcomes[name] = outcome(client)
    return outcomes


def big_json() -> bytes:
    return json.dumps({"data": {"status": "done", "padding": "x" * (9 * 1024 * 1024)}}).encode()


def gzipped_done() -> bytes:
    return gzip.compress(json.dumps({"data": {"status": "done", "job_id": "job123456", "items": []}}).encode())


FAULTS: dict[str, tuple[Callable[[threading.Event], Fault | None], str]] = {
    "healthy": (lambda gate: None, "ok"),
    "dropped-after-sending": (lambda gate: Fault("reset", forward_first=True), "ConnectionFailed"),
    "read-timeout": (lambda gate: Fault("hang", seconds=30, gate=gate), "RequestTimeout"),
    "redirect": (lambda gate: Fault("status", status=302, body=b"", headers={"Location": "http://evil.invalid/x"}),
                 "InvalidResponse"),
    "slow-body": (lambda gate: Fault("drip", seconds=0.5, gate=gate), "RequestTimeout"),
    "oversized-body": (lambda gate: Fault("status", status=200, body=big_json()), "InvalidResponse"),
    "cut-off-body": (lambda gate: Fault("truncate", keep=10), "ConnectionFailed"),
    "gzip-body": (lambda gate: Fault("status", status=200, body=gzipped_done(), headers={"Content-Encoding": "gzip"}),
                  "ok"),
    "unknown-encoding": (lambda gate: Fault("status", status=200, body=b"\x00\x01", headers={"Content-Encoding": "br"}),
                         "InvalidResponse"),
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_both_wires_fail_in_exactly_the_same_words(
    fault: str, make_scripted: Callable[..., ScriptedGateway], make_proxy: Callable[..., FaultProxy],
    release: threading.Event,
) -> None:
    make_fault, expected = FAULTS[fault]
    gateway = make_scripted()
    proxy = make_proxy(gateway.base_url, lambda seen: make_fault(release) if seen.path == "/v1/call" else None)
    outcomes = both_wires(proxy.base_url)
    assert outcomes["httpx"] == outcomes["stdlib"], outcomes
    assert outcomes["httpx"][0] == expected, outcomes
    assert KEY not in repr(outcomes)


def test_both_wires_fail_alike_when_nothing_listens() -> None:
    outcomes = both_wires(f"http://127.0.0.1:{free_port()}")
    assert outcomes["httpx"] == outcomes["stdlib"], outcomes
    assert outcomes["httpx"][0] == "ConnectionRefused", outcomes
