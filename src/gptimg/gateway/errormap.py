"""The one place where httpx exceptions and gateway error envelopes become gptimg errors.

Everything else catches ``GptimgError`` subclasses only. Messages name the host,
never the request headers, so the key cannot end up in an exception.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import httpx

from gptimg import errors
from gptimg.gateway.retry import parse_retry_after

_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "name resolution",
)
_TLS_MARKERS = ("ssl", "certificate", "tls")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def transport_error(exc: httpx.TransportError, host: str, *, request_sent: bool) -> errors.GptimgError:
    """Classify a failure to get any HTTP answer.

    ``request_sent`` says the request may have reached the server (the error came
    while reading the answer), which matters only for a paid submit.
    """
    text = " ".join(str(e).lower() for e in _chain(exc))
    if isinstance(exc, httpx.TimeoutException):
        phase = "connect to" if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)) else "answer from"
        return errors.RequestTimeout(f"Timed out waiting to {phase} {host}.")
    if isinstance(exc, httpx.ConnectError):
        if any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or any(m in text for m in _TLS_MARKERS):
            return errors.TLSFailure(f"TLS handshake with {host} failed.")
        if any(m in text for m in _DNS_MARKERS):
            return errors.DNSFailure(f"Could not resolve {host}.", hint="Check the host name and your DNS/network.")
        return errors.ConnectionRefused(
            f"Could not connect to {host}: connection refused or unreachable.",
            hint="Is the gateway up and the URL right? (--base-url / UNO_API_URL)",
        )
    if request_sent:
        return errors.ConnectionFailed(f"The connection to {host} dropped before the answer arrived.")
    return errors.ConnectionFailed(f"Network error talking to {host}.")


def request_may_have_arrived(exc: httpx.TransportError) -> bool:
    """Could the server have received and acted on the request?"""
    return not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout))


def _retry_after(headers: Mapping[str, str], body: Any) -> float | None:
    from_header = parse_retry_after(headers.get("retry-after"))
    if from_header is not None:
        return from_header
    if isinstance(body, dict):
        meta = body.get("meta")
        if isinstance(meta, dict):
            value = meta.get("retry_after_seconds")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
                return float(value)
    return None


def _useful_details(status: int, body: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"status": status}
    if isinstance(body, dict):
        for key in ("message", "meta", "recharge_url", "auth_url", "auth_type", "get_key_url", "fields"):
            if body.get(key):
                details[key] = body[key]
    return details


def envelope_error(status: int, body: Any, headers: Mapping[str, str]) -> errors.GatewayError | None:
    """The error a response stands for, or None when it is a success.

    The gateway sends its error envelope with status 200 as often as with 4xx/5xx,
    so the body decides first and the status only fills in.
    """
    code = None
    if isinstance(body, dict):
        raw = body.get("error") or body.get("detail")
        if isinstance(raw, str) and raw:
            code = raw
        elif raw:
            code = "gateway_error"
    if code is None and status < 400:
        return None
    message = ""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        message = body["message"]
    message = message or code or f"HTTP {status}"
    lowered = (code or "").lower()
    kwargs: dict[str, Any] = {"status": status, "body": body, "details": _useful_details(status, body)}

    if lowered == "insufficient_credits":
        return errors.InsufficientCredits(message, **kwargs)
    if lowered in ("rate_limit_exceeded", "rate_limited") or status == 429:
        return errors.RateLimited(message, retry_after=_retry_after(headers, body), **kwargs)
    if status == 401 or lowered in ("invalid_api_key", "not_authenticated", "unauthorized", "invalid credentials"):
        return errors.InvalidApiKey(message, **kwargs)
    if lowered == "tool_not_found":
        return errors.ToolNotFound(message, **kwargs)
    if lowered == "invalid_arguments":
        return errors.GatewayRejectedArguments(message, **kwargs)
    if lowered == "auth_required":
        return errors.GatewayError(
            message, code="auth_required", hint="Open the auth_url in a browser to authorise.", **kwargs
        )
    if status >= 500:
        return errors.ServerError(message, code=code if code and " " not in code else None, **kwargs)
    if code and " " not in code and len(code) <= 64:
        return errors.GatewayError(message, code=code, **kwargs)
    return errors.GatewayError(message, **kwargs)


def is_retryable(exc: errors.GptimgError) -> bool:
    """Worth trying again for a free call: rate limits, 502/503/504, and no-answer failures."""
    if isinstance(exc, errors.RateLimited):
        return True
    if isinstance(exc, errors.GatewayError):
        meta = exc.body.get("meta") if isinstance(exc.body, dict) else None
        if isinstance(meta, dict) and meta.get("outcome") == "outcome_unknown":
            return False
        return exc.status in (502, 503, 504)
    return isinstance(exc, (errors.ConnectionFailed, errors.RequestTimeout))


@contextmanager
def mapped_transport_errors(host: str) -> Iterator[None]:
    """Turn httpx transport failures inside the block into gptimg errors."""
    try:
        yield
    except httpx.TransportError as exc:
        raise transport_error(exc, host, request_sent=request_may_have_arrived(exc)) from None
