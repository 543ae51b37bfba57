"""The one place where transport failures and HTTP answers become gptimg errors.

``http_error`` is the only function that decides what an HTTP status means, for
every kind of request: JSON calls, device-flow posts, result polls and image
downloads. Everything else catches ``GptimgError`` subclasses only. Messages name
the host, never the request headers, so the key cannot end up in an exception.
"""

from __future__ import annotations

from collections.abc import Mapping

from gptimg import errors
from gptimg.gateway import wire
from gptimg.gateway.retry import parse_retry_after, sane_retry_after
from gptimg.gateway.urls import origin
from gptimg.gateway.wire import WireFailure

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any


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


#: Gateway error codes with a class of their own (the rest keep their code on a ``GatewayError``).
_CLASS_FOR_CODE: dict[str, type[errors.GptimgError]] = {
    "invalid_api_key": errors.InvalidApiKey,
    "not_authenticated": errors.InvalidApiKey,
    "unauthorized": errors.InvalidApiKey,
    "invalid credentials": errors.InvalidApiKey,
    "tool_not_found": errors.ToolNotFound,
    "invalid_arguments": errors.GatewayRejectedArguments,
}


def _envelope_code(body: Any) -> str | None:
    """The error code a body carries (``error`` or ``detail``), or None."""
    if isinstance(body, dict):
        raw = body.get("error") or body.get("detail")
        if isinstance(raw, str) and raw:
            return raw
        if raw:
            return "gateway_error"
    return None


def envelope_error(status: int, body: Any, headers: Mapping[str, str]) -> errors.GptimgError | None:
    """The error a response stands for, or None when it is a success.

    The gateway sends its error envelope with status 200 as often as with 4xx/5xx,
    so the body decides first and the status only fills in.
    """
    code = _envelope_code(body)
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
    if status == 401:
        return errors.InvalidApiKey(message, **kwargs)
    if lowered in _CLASS_FOR_CODE:
        return _CLASS_FOR_CODE[lowered](message, **kwargs)
    if lowered == "auth_required":
        return errors.GatewayError(
            message, code="auth_required", hint="Open the auth_url in a browser to authorise.", **kwargs
        )
    if status >= 500:
        return errors.ServerError(message, code=code if code and " " not in code else None, **kwargs)
    if code and " " not in code and len(code) <= 64:
        return errors.GatewayError(message, code=code, **kwargs)
    return errors.GatewayError(message, **kwargs)


# What a request was for: the same status means different things to each.
#: A JSON call (``/v1/call``, catalogue, account): the body's envelope decides, the status fills in.
CALL = "call"
#: A result long-poll: as CALL, but a 404 or ``job_not_found`` means the job is gone.
POLL = "poll"
#: A device-flow endpoint: its 4xx ``error`` answers are states of the flow, returned, not raised.
OAUTH = "oauth"
#: An image fetch (gateway or image host): only the status counts; redirects are followed by the caller.
DOWNLOAD = "download"


class _NotJson:
    def __repr__(self) -> str:
        return "NOT_JSON"


#: The body of an answer that was not JSON (an HTML error page, a proxy's text).
NOT_JSON: Any = _NotJson()


def http_error(
    status: int,
    body: Any,
    headers: Mapping[str, str],
    *,
    host: str,
    purpose: str = CALL,
    paid: bool = False,
    job_id: str | None = None,
) -> errors.GptimgError | None:
    """The error an HTTP answer stands for, or None when it is a success.

    ``body`` is the parsed JSON, or ``NOT_JSON``. ``paid``: the request was a submit,
    so a failure the gateway may have charged for becomes ``SubmitOutcomeUnknown``.
    ``job_id``: the job a POLL asked about.
    """
    if purpose == DOWNLOAD:
        return _download_error(status, headers, host)
    if 300 <= status < 400:
        # Never followed (the key would go along); an empty 3xx body must not pass for a success.
        try:
            target = origin(headers.get("location", ""))[1] or host
        except ValueError:  # a Location with a port that is not one
            target = "an unusable URL"
        return errors.InvalidResponse(
            f"{host} answered HTTP {status}, a redirect to {target}; it was not followed.", status=status
        )
    if body is NOT_JSON:
        failure: errors.GptimgError | None = _not_json_error(status, headers, host, paid=paid)
    elif purpose == OAUTH and status < 500 and status != 429:
        failure = None
    else:
        failure = envelope_error(status, body, headers)
    if isinstance(failure, errors.GatewayError):
        if paid and _outcome_unknown(body):
            return errors.SubmitOutcomeUnknown(
                failure.message, status=failure.status, body=body, details=failure.details
            )
        if purpose == POLL and _is_unknown_job(failure):
            return errors.JobNotFound(
                f"The gateway does not know job {job_id}: {failure.message}", job_id=job_id or ""
            )
    return failure


def _not_json_error(status: int, headers: Mapping[str, str], host: str, *, paid: bool) -> errors.GptimgError:
    kind = (headers.get("content-type") or "unknown type").split(";")[0]
    message = f"{host} answered HTTP {status} with {kind}, not JSON."
    if paid and status not in (401, 429):
        # Only an error envelope means "not charged"; a cut-off or HTML answer to a submit does not.
        return errors.SubmitOutcomeUnknown(f"{message} The submit may have been charged.", status=status)
    if status == 401:
        return errors.InvalidApiKey(message, status=status, body=None)
    if status >= 500:
        return errors.ServerError(message, status=status)
    if status == 429:
        return errors.RateLimited(message, status=status, retry_after=parse_retry_after(headers.get("retry-after")))
    return errors.InvalidResponse(message, status=status)


def _download_error(status: int, headers: Mapping[str, str], host: str) -> errors.GptimgError | None:
    if status < 300:
        return None
    if status < 400:
        return errors.InvalidResponse(f"Image host {host} answered HTTP {status} without a usable redirect.")
    if status == 429:
        retry_after = parse_retry_after(headers.get("retry-after"))
        return errors.RateLimited("Image host rate limited the download.", status=429, retry_after=retry_after)
    message = f"Image host {host} answered HTTP {status}."
    if status >= 500:
        return errors.ServerError(message, status=status)
    return errors.GatewayError(message, code="download_refused", status=status)


def _outcome_unknown(body: Any) -> bool:
    meta = body.get("meta") if isinstance(body, dict) else None
    return isinstance(meta, dict) and meta.get("outcome") == "outcome_unknown"


def _is_unknown_job(failure: errors.GatewayError) -> bool:
    if failure.code in ("job_not_found", "not_found"):
        return True
    return failure.status == 404 and not isinstance(failure, (errors.ToolNotFound, errors.InvalidResponse))


def is_retryable(exc: errors.GptimgError) -> bool:
    """Worth trying again for a free call: rate limits, 502/503/504, and no-answer failures."""
    if isinstance(exc, errors.RateLimited):
        return True
    if isinstance(exc, errors.GatewayError):
        return not _outcome_unknown(exc.body) and exc.status in (502, 503, 504)
    return isinstance(exc, (errors.ConnectionFailed, errors.RequestTimeout))
