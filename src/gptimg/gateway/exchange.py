"""The gateway exchange core: one request out, one typed answer back, retried by policy.

Everything above it (tool calls, file transfers, account reads) goes through
``GatewayExchange._exchange`` and ``_retrying``, so there is one place that
decides which origin gets the key, how long a read may take, how answers are
parsed and scrubbed of the key, and which failures are tried again.

Bytes move through a ``Wire`` that ``gateway.wires`` chooses (the standard library's
sockets, pooled; httpx only behind a ``socks5://`` proxy), so httpx is imported
only when it is used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from urllib.parse import urlencode

from gptimg import __version__, errors
from gptimg.gateway.bodies import UnsupportedEncoding, deadline_in, read_capped
from gptimg.gateway.errormap import CALL, NOT_JSON, OAUTH, http_error, is_retryable, transport_error
from gptimg.gateway.retry import NO_RETRY, RetryPolicy
from gptimg.gateway.urls import origin, validate_base_url
from gptimg.gateway.wire import Headers, Timeouts, Wire, WireFailure
from gptimg.redaction import TooDeep, redact_text, scrub_answer, scrub_parsed, strip_secrets

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any, Callable, TypeVar

    T = TypeVar("T")
    RetryListener = Callable[[errors.GptimgError, float], None]

CONNECT_TIMEOUT = 10.0
#: Catalogue, account and other short reads.
READ_TIMEOUT = 30.0
#: A JSON answer larger than this is not an Uno gateway talking.
MAX_JSON_BYTES = 8 * 1024 * 1024

#: The header a sandbox gateway puts on every answer ("1"): how a client knows its credits are test ones.
SANDBOX_HEADER = "X-Uno-Sandbox"

CALLER_SKILL_ENV = "UNO_CALLER_SKILL"


def user_agent() -> str:
    """``gptimg/<v> python/<x.y>``, plus ``skill/<name>`` from ``UNO_CALLER_SKILL`` as uno-cli adds it.

    The skill name is cut to uno-cli's safe alphabet (letters, digits, ``-_.``, 64 characters),
    so the gateway attributes calls the same way whichever client a skill bundles.
    """
    global _user_agent
    caller = os.environ.get(CALLER_SKILL_ENV, "")
    known = _user_agent
    if known[0] == caller:  # built once per value, not once a request
        return known[1]
    agent = f"gptimg/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"
    safe = "".join(ch for ch in caller.strip() if ch.isalnum() or ch in "-_.")[:64]
    text = f"{agent} skill/{safe}" if safe else agent
    _user_agent = (caller, text)
    return text


#: (``UNO_CALLER_SKILL`` as last read, the header it gave); one tuple, so readers never mix two.
_user_agent: tuple[str | None, str] = (None, "")


class GatewayExchange:
    """One gateway origin, one (optional) key, one wire: sends a request and types its answer."""

    #: (key, ``Bearer key``) once the key passed ``_authorization``'s check.
    _checked_authorization: tuple[str, str] | None = None

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        max_connections: int = 100,
        wire: Wire | None = None,
        on_retry: RetryListener | None = None,
        short_lived: bool = False,
    ) -> None:
        self.base_url = validate_base_url(base_url)
        self._api_key = api_key or None
        self._retry = retry or RetryPolicy()
        if wire is None:
            from gptimg.gateway.wires import choose_wire

            wire = choose_wire(short_lived=short_lived, max_connections=max_connections, user_agent=user_agent())
        self._wire = wire
        self._host = origin(self.base_url)[1]
        self.on_retry = on_retry
        #: The submit tool's catalogue entry once read; shared with ``with_key`` clones (same gateway).
        self._submit_entry_cache: list[dict[str, Any] | None] = []
        #: What the gateway said about itself (shared with ``with_key`` clones): see ``is_sandbox``.
        self._identity: dict[str, bool] = {}

    @property
    def is_sandbox(self) -> bool | None:
        """True once any answer carried the sandbox's ``X-Uno-Sandbox`` header; None before any answer.

        A gateway is a sandbox because it says so, never because of its address: a proxy on
        127.0.0.1 in front of the real gateway spends real money.
        """
        return self._identity.get("sandbox")

    def _note_identity(self, headers: Headers) -> None:
        self._identity["sandbox"] = (headers.get(SANDBOX_HEADER) or "").strip() == "1"

    @property
    def authenticated(self) -> bool:
        return self._api_key is not None

    def close(self) -> None:
        self._wire.close()

    # --- one attempt ------------------------------------------------------------------

    def _headers(self, *, auth: bool, content_type: str | None) -> dict[str, str]:
        headers = {"Accept": "application/json", "Accept-Encoding": "identity", "User-Agent": user_agent()}
        if content_type:
            headers["Content-Type"] = content_type
        if auth:
            headers["Authorization"] = self._authorization()
        return headers

    def _authorization(self) -> str:
        """``Bearer KEY``, or a typed error now for a key no HTTP header can carry.

        A key with a line break or non-ASCII characters (a paste gone wrong) would
        otherwise fail deep in the HTTP library, as a crash or as "check your network".
        """
        key = self._api_key
        if key is None:
            raise errors.NotLoggedIn("Not logged in.")
        checked = self._checked_authorization
        if checked is not None and checked[0] is key:  # checked once per key, not per request (~2 % of a batch's CPU)
            return checked[1]
        if not all("!" <= char <= "~" for char in key):
            raise errors.InvalidApiKey(
                "The API key is malformed: it has spaces, line breaks or non-ASCII characters.",
                hint="Check the key you gave (UNO_API_KEY, or log in again: gptimg login).",
            )
        self._checked_authorization = (key, f"Bearer {key}")
        return self._checked_authorization[1]

    def _timeouts(self, read: float, until: float | None = None) -> Timeouts:
        """``read`` per socket read, never past ``until``: the caller's whole budget."""
        if until is not None:
            left = max(0.05, until - time.monotonic())
            return Timeouts(connect=min(CONNECT_TIMEOUT, left), read=min(read, left), write=min(30.0, left))
        return Timeouts(connect=CONNECT_TIMEOUT, read=read)

    def _scrubbed(self, body: Any, raw: bytes | None = None) -> Any:
        """The one place gateway answers come in: the key is taken out of every string here.

        An answer nested too deeply to walk is ``NOT_JSON`` for ``errormap`` to judge.
        """
        if body is NOT_JSON:
            return body
        try:
            if raw is not None:  # the answer's own bytes: an answer that cannot hold the key is not walked
                return scrub_parsed(raw, body, (self._api_key,) if self._api_key else ())
            return scrub_answer(body, [self._api_key] if self._api_key else [])
        except (TooDeep, RecursionError):
            return NOT_JSON

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: dict[str, Any] | None = None,
        auth: bool,
        read_timeout: float,
        paid: bool = False,
        purpose: str = CALL,
        job_id: str | None = None,
        deadline: float | None = None,
    ) -> tuple[int, Any, Headers]:
        """Send once; return (status, parsed body, headers) or raise the error ``errormap`` decides.

        The whole exchange, body included, ends by ``read_timeout`` (plus the connect
        time) or ``deadline`` (``time.monotonic``), whichever comes first.
        """
        if json_body is not None:
            content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            content_type = "application/json"
        url = self.base_url + path
        query = {k: v for k, v in (params or {}).items() if v is not None}
        if query:
            url += "?" + urlencode(query)
        until = deadline_in(read_timeout + CONNECT_TIMEOUT, deadline)
        try:
            response = self._wire.send(
                method,
                url,
                headers=self._headers(auth=auth, content_type=content_type),
                content=content,
                timeouts=self._timeouts(read_timeout, until),
            )
            try:
                raw: bytes | None = read_capped(response, MAX_JSON_BYTES, until)
            except UnsupportedEncoding:
                raw = b"\x00"  # not JSON: errormap judges it (for a submit: may have been charged)
            finally:
                response.close()
        except WireFailure as failure:
            if paid and failure.arrived:
                raise errors.SubmitOutcomeUnknown(
                    f"The submit reached {self._host} but no answer came back; it may have been charged."
                ) from None
            raise transport_error(failure, self._host) from None
        if raw is None:
            if paid:  # the submit went out and something answered: it may have been charged
                raise errors.SubmitOutcomeUnknown(
                    f"The answer to the submit from {self._host} was too large to read; it may have been charged.",
                    status=response.status_code,
                )
            raise errors.InvalidResponse(
                f"The answer from {self._host} was larger than {MAX_JSON_BYTES // (1024 * 1024)} MiB.",
                status=response.status_code,
            )
        self._note_identity(response.headers)
        body = self._scrubbed(_parse(raw), raw)
        failure = http_error(
            response.status_code, body, response.headers, host=self._host, purpose=purpose, paid=paid, job_id=job_id
        )
        if failure is not None:
            raise failure
        return response.status_code, body, response.headers

    # --- retries ----------------------------------------------------------------------

    def _retrying(
        self,
        attempt: Callable[[], T],
        *,
        retry: bool,
        deadline: float | None = None,
        also_retry: type[errors.GptimgError] | None = None,
    ) -> T:
        policy = self._retry if retry else NO_RETRY
        waited = 0.0
        number = 0
        refused = 0
        while True:
            number += 1
            policy.before_request()
            try:
                return attempt()
            except errors.GptimgError as exc:
                self._without_key(exc)
                refused = refused + 1 if isinstance(exc, errors.ConnectionRefused) else 0
                retryable = is_retryable(exc) or (also_retry is not None and isinstance(exc, also_retry))
                if number >= policy.max_attempts or not retryable or refused >= policy.max_refused:
                    raise
                retry_after = exc.retry_after if isinstance(exc, errors.RateLimited) else None
                delay = policy.delay_for(number, retry_after)
                if waited + delay > policy.max_total_wait:
                    raise
                if deadline is not None and time.monotonic() + delay >= deadline:
                    raise  # waiting (a Retry-After, a backoff) would outlast the caller's --timeout
                waited += delay
                if self.on_retry is not None:
                    self.on_retry(exc, delay)
                policy.pause(delay, shared=isinstance(exc, errors.RateLimited))

    def _without_key(self, exc: errors.GptimgError) -> None:
        """A gateway that echoes the key back (``"Invalid API key: uno_…"``) must not put it in an error."""
        key = self._api_key
        if not key or len(key) < 8:
            return
        exc.message = redact_text(exc.message, [key])
        exc.args = (exc.message, *exc.args[1:])
        exc.details = strip_secrets(exc.details, [key])
        if isinstance(exc, (errors.GatewayError, errors.InvalidApiKey)):
            exc.body = strip_secrets(exc.body, [key])

    def oauth_post(self, path: str, payload: dict[str, Any]) -> tuple[int, Any]:
        """An OAuth endpoint: its ``error`` answers are states of the flow, so they are returned, not raised."""

        def attempt() -> tuple[int, Any]:
            status, body, _ = self._exchange(
                "POST", path, json_body=payload, auth=False, read_timeout=READ_TIMEOUT, purpose=OAUTH
            )
            return status, body

        return self._retrying(attempt, retry=True)

    # --- public reads -----------------------------------------------------------------

    def get_json(self, path: str, params: dict[str, Any] | None = None, *, auth: bool = False) -> Any:
        """A free GET, retried on transient failures."""
        return self._retrying(
            lambda: self._exchange("GET", path, params=params, auth=auth, read_timeout=READ_TIMEOUT)[1],
            retry=True,
        )


def _parse(raw: bytes) -> Any:
    """The JSON body (an empty one reads as ``{}``), or ``NOT_JSON`` for ``errormap`` to judge."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON

