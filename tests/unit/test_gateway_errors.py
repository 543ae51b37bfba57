"""Gateway answers and network failures become typed errors with stable codes, hints and exit codes."""

from __future__ import annotations

import io
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from gptimg import errors
from gptimg.gateway._httpx import classify
from gptimg.gateway.errormap import (
    CALL,
    DOWNLOAD,
    NOT_JSON,
    OAUTH,
    POLL,
    envelope_error,
    http_error,
    transport_error,
)
from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL

from ._support import KEY, assert_key_not_leaked

HTML_PAGE = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


def call_once(client: Any) -> Any:
    """A free tool call sent exactly once, so the mapping is seen without retries."""
    return client.call_tool(RESULT_TOOL, {"job_id": "j1", "wait_seconds": 0}, timeout=5, retry=False)


ENVELOPES = [
    pytest.param(
        200,
        {"error": "insufficient_credits", "message": "Balance 100 < 300", "recharge_url": "https://agentools.uno/r"},
        {},
        errors.InsufficientCredits,
        "insufficient_credits",
        errors.EXIT_CREDITS,
        id="insufficient_credits-200",
    ),
    pytest.param(
        402,
        {"error": "insufficient_credits", "recharge_url": "https://agentools.uno/r"},
        {},
        errors.InsufficientCredits,
        "insufficient_credits",
        errors.EXIT_CREDITS,
        id="insufficient_credits-402",
    ),
    pytest.param(
        401, {"error": "invalid_api_key"}, {}, errors.InvalidApiKey, "invalid_api_key", errors.EXIT_AUTH,
        id="invalid_api_key-401",
    ),
    pytest.param(
        401, {"error": "not_authenticated"}, {}, errors.InvalidApiKey, "invalid_api_key", errors.EXIT_AUTH,
        id="not_authenticated-401",
    ),
    pytest.param(
        401, {}, {}, errors.InvalidApiKey, "invalid_api_key", errors.EXIT_AUTH, id="bare-401",
    ),
    pytest.param(
        200, {"error": "invalid_api_key"}, {}, errors.InvalidApiKey, "invalid_api_key", errors.EXIT_AUTH,
        id="invalid_api_key-200",
    ),
    pytest.param(
        404, {"error": "tool_not_found", "message": "no such tool"}, {}, errors.ToolNotFound, "tool_not_found",
        errors.EXIT_FAILURE, id="tool_not_found-404",
    ),
    pytest.param(
        200, {"error": "tool_not_found"}, {}, errors.ToolNotFound, "tool_not_found", errors.EXIT_FAILURE,
        id="tool_not_found-200",
    ),
    pytest.param(
        400,
        {"error": "invalid_arguments", "message": "size must be one of ...", "fields": ["size"]},
        {},
        errors.GatewayRejectedArguments,
        "invalid_arguments",
        errors.EXIT_BAD_INPUT,
        id="invalid_arguments-400",
    ),
    pytest.param(
        200,
        {"error": "tool_disabled", "message": "maintenance"},
        {},
        errors.GatewayError,
        "tool_disabled",
        errors.EXIT_FAILURE,
        id="tool_disabled-200",
    ),
    pytest.param(
        200,
        {"error": "TimeoutError: upstream", "meta": {"latency_ms": 30000}},
        {},
        errors.GatewayError,
        "gateway_error",
        errors.EXIT_FAILURE,
        id="free-form-upstream-200",
    ),
    pytest.param(
        500,
        {"error": "TimeoutError: upstream"},
        {},
        errors.ServerError,
        "server_error",
        errors.EXIT_FAILURE,
        id="free-form-upstream-500",
    ),
]


@pytest.mark.parametrize(("status", "body", "headers", "exc_type", "code", "exit_code"), ENVELOPES)
def test_error_envelope_maps_to_typed_error_whatever_the_status(
    gateway, make_client, status, body, headers, exc_type, code, exit_code
):
    gateway.post("/v1/call").respond(status, json=body, headers=headers)

    with pytest.raises(exc_type) as caught:
        call_once(make_client())

    exc = caught.value
    assert type(exc) is exc_type
    assert exc.code == code
    assert exc.hint, f"{exc_type.__name__} for {body!r} has no hint"
    assert exc.exit_code == exit_code
    assert exc.status == status
    assert exc.to_dict()["error"] == code
    assert exc.to_dict()["success"] is False
    assert_key_not_leaked(exc)


def test_insufficient_credits_carries_recharge_url_and_exit_code_4(gateway, make_client):
    gateway.post("/v1/call").respond(
        200, json={"error": "insufficient_credits", "recharge_url": "https://agentools.uno/recharge"}
    )

    with pytest.raises(errors.InsufficientCredits) as caught:
        make_client().submit({"prompt": "a fox"})

    assert caught.value.exit_code == 4
    assert caught.value.to_dict()["recharge_url"] == "https://agentools.uno/recharge"


def test_free_form_upstream_error_text_is_kept_as_the_message(gateway, make_client):
    gateway.post("/v1/call").respond(200, json={"error": "TimeoutError: upstream"})

    with pytest.raises(errors.GatewayError) as caught:
        call_once(make_client())

    assert "TimeoutError: upstream" in caught.value.message
    assert caught.value.code == "gateway_error"


def test_auth_required_keeps_the_auth_url_for_the_user(gateway, make_client):
    gateway.post("/v1/call").respond(
        200,
        json={"error": "auth_required", "auth_url": "https://agentools.uno/connect/x", "auth_type": "oauth"},
    )

    with pytest.raises(errors.GatewayError) as caught:
        call_once(make_client())

    exc = caught.value
    assert exc.code == "auth_required"
    assert exc.details["auth_url"] == "https://agentools.uno/connect/x"
    assert "auth_url" in exc.hint
    assert_key_not_leaked(exc)


@pytest.mark.parametrize(
    ("headers", "body", "expected"),
    [
        pytest.param({"Retry-After": "7"}, {"error": "rate_limit_exceeded"}, 7.0, id="header"),
        pytest.param({}, {"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": 12}}, 12.0, id="meta"),
        pytest.param(
            {"Retry-After": "3"},
            {"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": 40}},
            3.0,
            id="header-beats-meta",
        ),
        pytest.param({}, {"error": "rate_limit_exceeded"}, None, id="neither"),
    ],
)
def test_rate_limit_reads_retry_after_from_header_or_meta(gateway, make_client, headers, body, expected):
    gateway.post("/v1/call").respond(429, json=body, headers=headers)

    with pytest.raises(errors.RateLimited) as caught:
        call_once(make_client())

    assert caught.value.retry_after == expected
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.hint
    assert_key_not_leaked(caught.value)


def test_rate_limit_envelope_at_status_200_is_still_rate_limited(gateway, make_client):
    gateway.post("/v1/call").respond(
        200, json={"error": "rate_limit_exceeded", "meta": {"retry_after_seconds": 2.5}}
    )

    with pytest.raises(errors.RateLimited) as caught:
        call_once(make_client())

    assert caught.value.retry_after == 2.5


# --- bodies that are not the JSON we expect ---------------------------------------------


@pytest.mark.parametrize(
    ("status", "exc_type"),
    [(200, errors.InvalidResponse), (404, errors.InvalidResponse), (502, errors.ServerError)],
)
def test_html_error_page_is_a_typed_error_not_a_crash(gateway, make_client, status, exc_type):
    gateway.post("/v1/call").respond(status, content=HTML_PAGE, headers={"Content-Type": "text/html"})

    with pytest.raises(exc_type) as caught:
        call_once(make_client())

    exc = caught.value
    assert type(exc) is exc_type
    assert exc.status == status
    assert "text/html" in exc.message
    assert exc.hint
    assert_key_not_leaked(exc)


def test_html_401_page_means_the_key_was_refused(gateway, make_client):
    gateway.get("/v1/auth/me").respond(401, content=b"<html>Unauthorized</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(errors.InvalidApiKey) as caught:
        make_client().me()

    assert caught.value.exit_code == errors.EXIT_AUTH


@pytest.mark.parametrize("body", [[{"name": "x"}], "just a string", 42])
def test_auth_me_answering_a_non_object_is_an_invalid_response(gateway, make_client, body):
    gateway.get("/v1/auth/me").respond(200, json=body)

    with pytest.raises(errors.InvalidResponse) as caught:
        make_client().me()

    assert_key_not_leaked(caught.value)


@pytest.mark.parametrize("body", [b'["done"]', b'"done"', b"null", b"3.5"])
def test_tool_call_answering_a_non_object_is_an_invalid_response(gateway, make_client, body):
    gateway.post("/v1/call").respond(200, content=body, headers={"Content-Type": "application/json"})

    with pytest.raises(errors.InvalidResponse):
        call_once(make_client())


class _Endless(httpx.SyncByteStream):
    """A body with no Content-Length that keeps coming: 1 MiB chunks, up to ``chunks`` of them."""

    def __init__(self, chunks: int) -> None:
        self.chunks = chunks
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for _ in range(self.chunks):
            self.sent += 1
            yield b" " * (1024 * 1024)


def test_body_over_8_mib_with_content_length_is_refused_unread(gateway, make_client):
    gateway.post("/v1/call").respond(200, content=b"[" + b"0," * (4 * 1024 * 1024 + 10) + b"0]")

    with pytest.raises(errors.InvalidResponse) as caught:
        call_once(make_client())

    assert "8 MiB" in caught.value.message


def test_streamed_body_over_8_mib_stops_reading_at_the_cap(gateway, make_client):
    stream = _Endless(chunks=64)
    gateway.post("/v1/call").mock(return_value=httpx.Response(200, stream=stream))

    with pytest.raises(errors.InvalidResponse):
        call_once(make_client())

    assert stream.sent <= 10, "the client kept reading long after 8 MiB"


# --- no HTTP answer at all ----------------------------------------------------------------


def _raise_tls_failure(request: httpx.Request) -> None:
    # httpx's message for a TLS failure is the ssl module's own text.
    raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed (_ssl.c:1006)")


@pytest.mark.parametrize(
    ("side_effect", "exc_type", "code"),
    [
        pytest.param(httpx.ConnectError("[Errno 111] Connection refused"), errors.ConnectionFailed,
                     "connection_failed", id="refused"),
        pytest.param(httpx.ConnectError("[Errno -2] Name or service not known"), errors.DNSFailure,
                     "dns_failed", id="dns"),
        pytest.param(_raise_tls_failure, errors.TLSFailure, "tls_failed", id="tls"),
        pytest.param(httpx.ReadTimeout("timed out"), errors.RequestTimeout, "timeout", id="read-timeout"),
        pytest.param(httpx.ConnectTimeout("timed out"), errors.RequestTimeout, "timeout", id="connect-timeout"),
    ],
)
def test_network_failures_become_transport_errors(gateway, make_client, side_effect, exc_type, code):
    gateway.get("/v1/auth/me").mock(side_effect=side_effect)

    with pytest.raises(exc_type) as caught:
        make_client(max_attempts=1).me()

    exc = caught.value
    assert exc.code == code
    assert exc.hint
    assert exc.exit_code == errors.EXIT_FAILURE
    assert "gateway.test" in exc.message
    assert_key_not_leaked(exc)


def test_connect_error_caused_by_ssl_error_is_a_tls_failure():
    try:
        try:
            raise ssl.SSLCertVerificationError(1, "certificate verify failed: self-signed certificate")
        except ssl.SSLError as inner:
            raise httpx.ConnectError("handshake failed") from inner
    except httpx.ConnectError as exc:
        mapped = transport_error(classify(exc), "gateway.test")

    assert isinstance(mapped, errors.TLSFailure)


def test_envelope_with_error_null_is_a_success():
    assert envelope_error(200, {"data": {"status": "done"}, "error": None}, {}) is None


def test_gateway_echoing_the_key_does_not_put_it_in_the_error(gateway, make_client):
    gateway.post("/v1/call").respond(
        401,
        json={"error": "invalid_api_key", "message": f"Invalid API key: {KEY}", "meta": {"key": KEY}},
    )

    with pytest.raises(errors.InvalidApiKey) as caught:
        call_once(make_client())

    assert_key_not_leaked(caught.value)


def test_submit_errors_do_not_leak_the_key(gateway, make_client):
    gateway.post("/v1/call").respond(200, json={"error": "insufficient_credits"})

    with pytest.raises(errors.InsufficientCredits) as caught:
        make_client().call_tool(SUBMIT_TOOL, {"prompt": "x"}, timeout=5, retry=False)

    assert_key_not_leaked(caught.value)


# --- one function decides what a status means, for every kind of request -------------------

STATUS_DECISIONS = [
    pytest.param(302, {}, CALL, False, errors.InvalidResponse, id="call-redirect-not-followed"),
    pytest.param(503, NOT_JSON, CALL, False, errors.ServerError, id="call-html-5xx"),
    pytest.param(503, NOT_JSON, CALL, True, errors.SubmitOutcomeUnknown, id="submit-html-5xx-may-have-charged"),
    pytest.param(401, NOT_JSON, CALL, False, errors.InvalidApiKey, id="call-html-401"),
    pytest.param(429, NOT_JSON, CALL, False, errors.RateLimited, id="call-html-429"),
    pytest.param(200, NOT_JSON, CALL, False, errors.InvalidResponse, id="call-html-200"),
    pytest.param(200, NOT_JSON, CALL, True, errors.SubmitOutcomeUnknown, id="submit-html-200-may-have-charged"),
    pytest.param(401, NOT_JSON, CALL, True, errors.InvalidApiKey, id="submit-html-401-refused"),
    pytest.param(500, {"error": "x", "meta": {"outcome": "outcome_unknown"}}, CALL, True,
                 errors.SubmitOutcomeUnknown, id="submit-envelope-outcome-unknown"),
    pytest.param(404, {"error": "not_found"}, POLL, False, errors.JobNotFound, id="poll-404"),
    pytest.param(200, {"error": "job_not_found"}, POLL, False, errors.JobNotFound, id="poll-job-not-found"),
    pytest.param(404, {"error": "not_found"}, CALL, False, errors.GatewayError, id="call-404-is-no-job"),
    pytest.param(404, NOT_JSON, POLL, False, errors.InvalidResponse, id="poll-html-404"),
    pytest.param(404, {"error": "tool_not_found"}, POLL, False, errors.ToolNotFound, id="poll-unknown-tool"),
    pytest.param(400, {"error": "authorization_pending"}, OAUTH, False, None, id="oauth-flow-state"),
    pytest.param(503, {}, OAUTH, False, errors.ServerError, id="oauth-5xx"),
    pytest.param(429, {"error": "slow_down"}, OAUTH, False, errors.RateLimited, id="oauth-429"),
    pytest.param(200, None, DOWNLOAD, False, None, id="download-ok"),
    pytest.param(304, None, DOWNLOAD, False, errors.InvalidResponse, id="download-3xx-not-followed"),
    pytest.param(404, None, DOWNLOAD, False, errors.GatewayError, id="download-404"),
    pytest.param(503, None, DOWNLOAD, False, errors.ServerError, id="download-5xx"),
    pytest.param(429, None, DOWNLOAD, False, errors.RateLimited, id="download-429"),
]


@pytest.mark.parametrize(("status", "body", "purpose", "paid", "expected"), STATUS_DECISIONS)
def test_one_function_maps_every_kind_of_answer(
    status: int, body: Any, purpose: str, paid: bool, expected: type[errors.GptimgError] | None
) -> None:
    failure = http_error(status, body, {"retry-after": "2"}, host="gateway.test", purpose=purpose, paid=paid,
                         job_id="job_1")
    if expected is None:
        assert failure is None
        return
    assert type(failure) is expected, failure
    assert failure.hint and failure.message
    if expected is errors.JobNotFound:
        assert failure.details["job_id"] == "job_1" and "job_1" in failure.message
    if expected is errors.RateLimited:
        assert failure.retry_after == 2.0
    if purpose == DOWNLOAD and expected is errors.GatewayError:
        assert failure.code == "download_refused"


def test_a_download_answered_by_a_3xx_without_location_is_refused_not_saved_empty(gateway, make_client):
    gateway.get("https://cdn.test/a.png").respond(304)
    sink = io.BytesIO()

    with pytest.raises(errors.InvalidResponse) as caught:
        make_client(max_attempts=1).download("https://cdn.test/a.png", sink)

    assert "304" in caught.value.message and "cdn.test" in caught.value.message
    assert sink.getvalue() == b""


def test_each_error_code_has_one_exit_code() -> None:
    classes = [cls for cls in vars(errors).values()
               if isinstance(cls, type) and issubclass(cls, errors.GptimgError)]
    by_code: dict[str, set[int]] = {}
    for cls in classes:
        assert cls.code in errors.EXIT_CODES, f"{cls.__name__}.code {cls.code!r} is not in errors.EXIT_CODES"
        by_code.setdefault(cls.code, set()).add(errors.EXIT_CODES[cls.code])
    assert all(len(codes) == 1 for codes in by_code.values()), by_code
    # The same code raised through different classes, or named by hand, exits the same way.
    assert errors.BadInput("x", code="output_not_writable").exit_code == errors.OutputNotWritable("x").exit_code == 1
    assert errors.InvalidArguments("x").exit_code == errors.GatewayRejectedArguments("x").exit_code == 2
    assert errors.UsageError("x").exit_code == 2 and errors.UsageError("x").code == "usage"
    # A code only the gateway knows exits as its class does.
    assert errors.GatewayError("x", code="made_up_by_the_gateway").exit_code == errors.EXIT_FAILURE
