"""Tool calls: MCP flattening, which calls are retried and how, submit's never-twice rule, timeouts."""

from __future__ import annotations

import json

import httpx
import pytest

from gptimg import errors
from gptimg.gateway import BackoffGate, GatewayClient, RetryPolicy, flatten_mcp
from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL

from ._support import BASE, KEY, FakeTime, TopOfRange, assert_key_not_leaked, mcp_text

DONE = {"data": {"status": "done", "job_id": "j1", "items": [{"url": "https://cdn.test/a.png"}]}}


def sent_json(route, index: int = -1) -> dict:
    return json.loads(route.calls[index].request.content)


# --- MCP flattening -------------------------------------------------------------------------


def test_mcp_text_content_is_flattened_so_status_is_readable(gateway, make_client):
    gateway.post("/v1/call").respond(200, json={"data": mcp_text({"status": "done"}), "meta": {"latency_ms": 3}})

    result = make_client().poll_result("j1")

    assert result.data == {"status": "done"}
    assert result.data["status"] == "done"
    assert result.meta == {"latency_ms": 3}


def test_mcp_text_that_is_not_json_stays_text():
    assert flatten_mcp({"content": [{"type": "text", "text": "all good"}]}) == "all good"


def test_mcp_is_error_becomes_a_gateway_error_with_the_text():
    with pytest.raises(errors.GatewayError) as caught:
        flatten_mcp({"content": [{"type": "text", "text": "upstream exploded"}], "isError": True})

    assert caught.value.code == "tool_error"
    assert "upstream exploded" in caught.value.message
    assert caught.value.hint


def test_mcp_is_error_from_a_poll_is_raised_not_returned(gateway, make_client):
    route = gateway.post("/v1/call").respond(
        200, json={"data": {"content": [{"type": "text", "text": "boom"}], "isError": True}}
    )

    with pytest.raises(errors.GatewayError):
        make_client().poll_result("j1")
    assert route.call_count == 1, "a tool-reported error is not a transient failure"


def test_plain_data_with_other_keys_is_not_mistaken_for_mcp():
    data = {"content": [{"type": "text", "text": "{}"}], "status": "done"}
    assert flatten_mcp(data) is data


def test_credits_used_is_read_from_meta(gateway, make_client):
    gateway.post("/v1/call").respond(
        200, json={"data": {"status": "pending", "job_id": "j1"}, "meta": {"credits_used": 300}}
    )

    assert make_client().submit({"prompt": "a fox"}).credits_used == 300


# --- retries of free calls ------------------------------------------------------------------


@pytest.mark.parametrize("status", [502, 503, 504])
def test_result_poll_retries_gateway_hiccups_then_succeeds(gateway, make_client, fake_time, status):
    route = gateway.post("/v1/call")
    route.side_effect = [
        httpx.Response(status, json={"error": "bad gateway"}),
        httpx.Response(status, content=b"<html>oops</html>", headers={"Content-Type": "text/html"}),
        httpx.Response(200, json=DONE),
    ]

    result = make_client(base_delay=0.5).poll_result("j1")

    assert result.data["status"] == "done"
    assert route.call_count == 3
    assert fake_time.sleeps == [0.5, 1.0]


def test_retry_backoff_is_exponential_capped_and_bounded_by_max_attempts(gateway, make_client, fake_time):
    route = gateway.get("/health").respond(503, json={"error": "unavailable"})

    with pytest.raises(errors.ServerError):
        make_client(max_attempts=6, base_delay=1.0, max_delay=5.0).health()

    assert route.call_count == 6
    assert fake_time.sleeps == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_jitter_stays_between_half_and_full_ceiling():
    policy = RetryPolicy(base_delay=2.0, max_delay=100.0)
    for attempt in range(1, 6):
        ceiling = 2.0 * 2 ** (attempt - 1)
        for _ in range(20):
            assert ceiling / 2 <= policy.delay_for(attempt) <= ceiling


def test_retries_stop_once_total_wait_would_pass_the_budget(gateway, make_client, fake_time):
    route = gateway.get("/health").respond(503)

    with pytest.raises(errors.ServerError):
        make_client(max_attempts=10, base_delay=4.0, max_delay=4.0, max_total_wait=10.0).health()

    assert fake_time.sleeps == [4.0, 4.0]
    assert route.call_count == 3


def test_poll_honours_retry_after_header_exactly(gateway, make_client, fake_time):
    route = gateway.post("/v1/call")
    route.side_effect = [
        httpx.Response(429, json={"error": "rate_limit_exceeded"}, headers={"Retry-After": "7"}),
        httpx.Response(200, json=DONE),
    ]

    make_client().poll_result("j1")

    assert fake_time.sleeps == [7.0]
    assert route.call_count == 2


def test_poll_honours_meta_retry_after_seconds_exactly(gateway, make_client, fake_time):
    route = gateway.post("/v1/call")
    route.side_effect = [
        httpx.Response(429, json={"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": 13}}),
        httpx.Response(200, json={"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": 2}}),
        httpx.Response(200, json=DONE),
    ]

    make_client().poll_result("j1")

    assert fake_time.sleeps == [13.0, 2.0]


def test_get_honours_retry_after_as_http_date(gateway, make_client, fake_time):
    gateway.get("/health").side_effect = [
        httpx.Response(429, headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}),
        httpx.Response(200, json={"status": "ok"}),
    ]

    assert make_client().health() == {"status": "ok"}
    assert fake_time.sleeps == [0.0], "a date in the past means: go now"


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
    ids=["connect", "read-timeout", "dropped"],
)
def test_free_calls_retry_after_network_failures(gateway, make_client, fake_time, failure):
    route = gateway.post("/v1/call")
    route.side_effect = [failure, failure, httpx.Response(200, json=DONE)]

    assert make_client().poll_result("j1").data["status"] == "done"
    assert route.call_count == 3
    assert len(fake_time.sleeps) == 2


def test_get_retries_read_timeouts_until_max_attempts_then_raises_timeout(gateway, make_client, fake_time):
    route = gateway.get("/v1/tools").mock(side_effect=httpx.ReadTimeout("timed out"))

    with pytest.raises(errors.RequestTimeout):
        make_client(max_attempts=3).search_tools("image")

    assert route.call_count == 3
    assert len(fake_time.sleeps) == 2


@pytest.mark.parametrize(
    ("status", "body", "exc_type"),
    [
        (400, {"error": "invalid_arguments"}, errors.GatewayRejectedArguments),
        (401, {"error": "invalid_api_key"}, errors.InvalidApiKey),
        (402, {"error": "insufficient_credits"}, errors.InsufficientCredits),
        (403, {"error": "forbidden"}, errors.GatewayError),
        (500, {"error": "internal"}, errors.ServerError),
    ],
)
def test_client_errors_are_not_retried(gateway, make_client, fake_time, status, body, exc_type):
    route = gateway.post("/v1/call").respond(status, json=body)

    with pytest.raises(exc_type):
        make_client().poll_result("j1")

    assert route.call_count == 1
    assert fake_time.sleeps == []


def test_outcome_unknown_envelope_on_a_free_call_is_not_retried(gateway, make_client, fake_time):
    route = gateway.post("/v1/call").respond(502, json={"error": "upstream", "meta": {"outcome": "outcome_unknown"}})

    with pytest.raises(errors.GatewayError):
        make_client().poll_result("j1")

    assert route.call_count == 1


def test_on_retry_listener_hears_each_retry_with_its_delay(gateway, make_client):
    heard: list[tuple[str, float]] = []
    gateway.get("/health").side_effect = [httpx.Response(503), httpx.Response(200, json={"status": "ok"})]
    client = make_client(base_delay=0.5)
    client.on_retry = lambda exc, delay: heard.append((exc.code, delay))

    client.health()

    assert heard == [("server_error", 0.5)]


# --- submit: never sent twice -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "exc_type"),
    [
        (httpx.Response(502, json={"error": "bad gateway"}), errors.ServerError),
        (httpx.Response(503, json={"error": "unavailable"}), errors.ServerError),
        (httpx.Response(429, json={"error": "rate_limit_exceeded"}, headers={"Retry-After": "1"}), errors.RateLimited),
    ],
)
def test_submit_is_never_retried_after_a_retryable_status(gateway, make_client, fake_time, response, exc_type):
    route = gateway.post("/v1/call").mock(return_value=response)

    with pytest.raises(exc_type):
        make_client().submit({"prompt": "a fox"})

    assert route.call_count == 1
    assert fake_time.sleeps == []


def test_submit_is_never_retried_even_when_asked_to(gateway, make_client):
    route = gateway.post("/v1/call").respond(503, json={"error": "unavailable"})

    with pytest.raises(errors.ServerError):
        make_client().call_tool(SUBMIT_TOOL, {"prompt": "x"}, timeout=60, retry=True)

    assert route.call_count == 1


def test_submit_connect_error_is_connection_failed_not_unknown(gateway, make_client):
    route = gateway.post("/v1/call").mock(side_effect=httpx.ConnectError("[Errno 111] Connection refused"))

    with pytest.raises(errors.ConnectionFailed) as caught:
        make_client().submit({"prompt": "a fox"})

    assert not isinstance(caught.value, errors.SubmitOutcomeUnknown)
    assert route.call_count == 1


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
        httpx.ReadError("[Errno 104] Connection reset by peer"),
    ],
    ids=["read-timeout", "dropped-after-send", "reset"],
)
def test_submit_is_never_retried_after_connection_drop_and_is_outcome_unknown(gateway, make_client, failure):
    route = gateway.post("/v1/call").mock(side_effect=failure)

    with pytest.raises(errors.SubmitOutcomeUnknown) as caught:
        make_client().submit({"prompt": "a fox"})

    exc = caught.value
    assert route.call_count == 1
    assert exc.exit_code == errors.EXIT_OUTCOME_UNKNOWN == 7
    assert exc.code == "outcome_unknown"
    assert exc.hint
    assert_key_not_leaked(exc)


def test_submit_envelope_with_outcome_unknown_raises_submit_outcome_unknown(gateway, make_client):
    route = gateway.post("/v1/call").respond(
        504, json={"error": "TimeoutError: upstream", "meta": {"outcome": "outcome_unknown"}}
    )

    with pytest.raises(errors.SubmitOutcomeUnknown) as caught:
        make_client().submit({"prompt": "a fox"})

    assert route.call_count == 1
    assert caught.value.exit_code == 7
    assert caught.value.details["meta"] == {"outcome": "outcome_unknown"}


def test_submit_outcome_unknown_at_status_200_is_also_unknown(gateway, make_client):
    gateway.post("/v1/call").respond(200, json={"error": "upstream hiccup", "meta": {"outcome": "outcome_unknown"}})

    with pytest.raises(errors.SubmitOutcomeUnknown):
        make_client().submit({"prompt": "a fox"})


def test_submit_sends_the_submit_tool_and_arguments_verbatim(gateway, make_client):
    route = gateway.post("/v1/call").respond(200, json={"data": {"status": "pending", "job_id": "j1"}})

    make_client().submit({"prompt": "一只狐狸", "size": "1024x1024", "n": 1})

    request = route.calls.last.request
    assert sent_json(route) == {"tool": SUBMIT_TOOL, "arguments": {"prompt": "一只狐狸", "size": "1024x1024", "n": 1}}
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_call_without_a_key_is_not_logged_in_and_sends_nothing(gateway, make_client):
    route = gateway.post("/v1/call").respond(200, json=DONE)

    with pytest.raises(errors.NotLoggedIn):
        make_client(api_key=None).poll_result("j1")

    assert route.call_count == 0


# --- poll_result specifics ------------------------------------------------------------------


def test_unknown_job_becomes_job_not_found(gateway, make_client):
    gateway.post("/v1/call").respond(404, json={"error": "job_not_found", "message": "no such job"})

    with pytest.raises(errors.JobNotFound) as caught:
        make_client().poll_result("j404")

    assert caught.value.job_id == "j404"
    assert caught.value.exit_code == errors.EXIT_JOB_FAILED


def test_poll_with_unknown_result_tool_is_tool_not_found_not_job_not_found(gateway, make_client):
    gateway.post("/v1/call").respond(404, json={"error": "tool_not_found"})

    with pytest.raises(errors.ToolNotFound):
        make_client().poll_result("j1")


def test_poll_against_a_server_that_is_not_a_gateway_says_so(gateway, make_client):
    gateway.post("/v1/call").respond(404, content=b"<html>Not Found</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(errors.InvalidResponse) as caught:
        make_client().poll_result("j1")

    assert "base-url" in caught.value.hint


# --- timeouts -------------------------------------------------------------------------------


@pytest.mark.parametrize(("wait", "read"), [(50, 70.0), (30, 50.0), (0, 20.0), (500, 70.0)])
def test_result_poll_read_timeout_is_wait_plus_20_and_connect_is_10(gateway, make_client, wait, read):
    route = gateway.post("/v1/call").respond(200, json=DONE)

    make_client().poll_result("j1", wait_seconds=wait)

    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout["read"] == read
    assert timeout["connect"] == 10.0
    assert sent_json(route)["arguments"] == {"job_id": "j1", "wait_seconds": min(wait, 50)}
    assert sent_json(route)["tool"] == RESULT_TOOL


def test_submit_uses_a_60_second_read_timeout(gateway, make_client):
    route = gateway.post("/v1/call").respond(200, json={"data": {"status": "pending", "job_id": "j1"}})

    make_client().submit({"prompt": "x"})

    assert route.calls.last.request.extensions["timeout"]["read"] == 60.0
    assert route.calls.last.request.extensions["timeout"]["connect"] == 10.0


# --- BackoffGate: one 429 slows every caller --------------------------------------------------


def test_backoff_gate_429_in_one_caller_delays_the_others(gateway):
    time = FakeTime(start=0.0)
    gate = BackoffGate(sleep=lambda s: None, clock=time.clock)
    sent_at: dict[str, list[float]] = {"a": [], "b": []}

    def answer_a(request: httpx.Request) -> httpx.Response:
        sent_at["a"].append(time.now)
        if len(sent_at["a"]) == 1:
            return httpx.Response(429, json={"error": "rate_limit_exceeded"}, headers={"Retry-After": "5"})
        return httpx.Response(200, json=DONE)

    gateway.post("/v1/call").mock(side_effect=answer_a)
    gateway.get("/health").mock(side_effect=lambda request: sent_at["b"].append(time.now) or httpx.Response(200, json={}))

    def gate_sleep(seconds: float) -> None:
        # While caller A is backing off, caller B (same process, same gate) wants to send.
        time.sleeps.append(seconds)
        if len(time.sleeps) == 1:
            client_b.health()
        time.now += seconds

    gate._sleep = gate_sleep
    client_a = GatewayClient(BASE, KEY, retry=RetryPolicy(gate=gate, rng=TopOfRange(), sleep=_no_policy_sleep))
    client_b = GatewayClient(BASE, KEY, retry=RetryPolicy(gate=gate, rng=TopOfRange(), sleep=_no_policy_sleep))

    client_a.poll_result("j1")

    assert sent_at["b"] == [5.0], "B must not send before A's Retry-After has passed"
    assert sent_at["a"][0] == 0.0 and sent_at["a"][1] >= 5.0
    client_a.close()
    client_b.close()


def _no_policy_sleep(seconds: float) -> None:
    raise AssertionError("a 429 with a shared gate must wait on the gate, not privately")


def test_backoff_gate_never_moves_the_deadline_earlier():
    time = FakeTime(start=0.0)
    gate = BackoffGate(sleep=time.sleep, clock=time.clock)

    gate.push(10)
    gate.push(2)
    gate.wait()

    assert time.sleeps == [10]


# --- uploads ------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_upload_sends_raw_bytes_with_the_image_type_and_returns_the_url(gateway, make_client):
    route = gateway.post("/v1/files").respond(200, json={"url": "https://files.test/f.png", "file_id": "f_abcd"})

    assert make_client().upload(PNG, "image/png") == "https://files.test/f.png"

    request = route.calls.last.request
    assert request.content == PNG
    assert request.headers["content-type"] == "image/png"
    assert request.headers["authorization"] == f"Bearer {KEY}"


def test_upload_falls_back_to_file_id_when_the_url_is_unusable(gateway, make_client):
    gateway.post("/v1/files").respond(200, json={"url": "https://files.test/a,b.png", "file_id": "f_abcd"})

    assert make_client().upload(PNG, "image/png") == "f_abcd"


def test_upload_refuses_other_types_before_sending(gateway, make_client):
    route = gateway.post("/v1/files").respond(200, json={"url": "https://files.test/f"})

    with pytest.raises(errors.InvalidArguments):
        make_client().upload(b"%PDF-1.7", "application/pdf")

    assert route.call_count == 0
