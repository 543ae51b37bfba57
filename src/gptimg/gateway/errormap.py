"""The one place where transport failures and gateway error envelopes become gptimg errors.

Everything else catches ``GptimgError`` subclasses only. Messages name the host,
never the request headers, so the key cannot end up in an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gptimg import errors
from gptimg.gateway import wire
from gptimg.gateway.retry import parse_retry_after, sane_retry_after
from gptimg.gateway.wire import WireFailure


def transport_error(failure: WireFailure, host: str) -> errors.GptimgError:
    """The public error for a request that got no (complete) HTTP answer."""
    if failure.kind == wire.CONNECT_TIMEOUT:
        return errors.RequestTimeout(f"Timed out waiting to connect to {host}.")
    if failure.kind == wire.READ_TIMEOUT:
        return errors.RequestTimeout(f"Timed out waiting to answer from {host}.")
    if failure.kind == wire.TLS:
        return errors.TLSFailure(f"TLS handshake with {host} failed.")
    if failure.kind == wire.DNS:
        return errors.DNSFailure(f"Could not resolve {host}.", hint="Check the host name and your DNS/network.")
    if failure.kind == wire.REFUSED:
        return errors.ConnectionRefused(
            f"Could not connect to {host}: connection refused or unreachable.",
            hint="Is the gateway up and the URL right? (--base-url / UNO_API_URL)",
        )
    return errors.ConnectionFailed(f"The connection to {host} dropped before the answer arrived.")


def _retry_after(headers: Mapping[str, str], body: Any) -> float | None:
    from_header = parse_retry_after(headers.get("retry-after"))
    if from_header is not None:
        return from_header
    if isinstance(body, dict):
        meta = body.get("meta")
        if isinstance(meta, dict):
            return sane_retry_after(meta.get("retry_after_seconds"))
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
