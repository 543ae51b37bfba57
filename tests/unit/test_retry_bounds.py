"""A server cannot make gptimg wait for ever: Retry-After and meta.retry_after_seconds are capped,
and values that are not finite numbers are ignored, in single calls and in the batch's shared gate."""

from __future__ import annotations

import httpx
import pytest

from gptimg import errors
from gptimg.gateway.retry import MAX_RETRY_AFTER, BackoffGate, parse_retry_after
from gptimg.image_tool import RESULT_TOOL

DONE = {"data": {"status": "done", "job_id": "j1", "items": [{"url": "https://cdn.example/1.png"}]}}


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param("inf", None, id="inf"),
    pytest.param("nan", None, id="nan"),
    pytest.param("1e999", None, id="overflow"),
    pytest.param("-3", 0.0, id="negative-is-now"),
    pytest.param("99999", MAX_RETRY_AFTER, id="huge-is-capped"),
    pytest.param("7", 7.0, id="plain"),
])
def test_retry_after_header_is_capped_and_non_finite_ignored(header: str, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


@pytest.mark.parametrize(("value", "expected"), [
    pytest.param(float("inf"), None, id="Infinity"),
    pytest.param(float("nan"), None, id="NaN"),
    pytest.param(10**12, MAX_RETRY_AFTER, id="huge"),
    pytest.param(-5, None, id="negative"),
])
def test_meta_retry_after_seconds_is_capped_and_non_finite_ignored(gateway, make_client, value, expected) -> None:
    body = '{"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": %s}}' % (
        "Infinity" if value == float("inf") else "NaN" if value != value else value)
    gateway.post("/v1/call").respond(429, content=body.encode(), headers={"Content-Type": "application/json"})
    with pytest.raises(errors.RateLimited) as caught:
        make_client().call_tool(RESULT_TOOL, {"job_id": "j1", "wait_seconds": 0}, timeout=5, retry=False)
    assert caught.value.retry_after == expected


def test_a_poll_told_to_wait_forever_waits_a_bounded_time(gateway, make_client, fake_time) -> None:
    route = gateway.post("/v1/call")
    route.side_effect = [
        httpx.Response(429, content=b'{"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": Infinity}}',
                       headers={"Content-Type": "application/json", "Retry-After": "1e999"}),
        httpx.Response(200, json=DONE),
    ]
    make_client().poll_result("j1")
    assert len(fake_time.sleeps) == 1 and 0 < fake_time.sleeps[0] <= MAX_RETRY_AFTER


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.mark.parametrize(("delay", "most"), [
    pytest.param(float("inf"), 0.0, id="inf-ignored"),
    pytest.param(float("nan"), 0.0, id="nan-ignored"),
    pytest.param(1e9, MAX_RETRY_AFTER, id="huge-capped"),
])
def test_the_batch_backoff_gate_never_holds_everyone_for_ever(delay: float, most: float) -> None:
    clock = Clock()
    gate = BackoffGate(sleep=clock.sleep, clock=lambda: clock.now)
    gate.push(delay)
    gate.wait()
    assert sum(clock.slept) == most
