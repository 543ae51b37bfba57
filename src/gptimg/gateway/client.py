"""``GatewayClient``: every request gptimg makes to the Uno gateway, and the policy around it.

The client owns policy: which origin may see the key, timeouts per kind of call,
which calls are retried, how answers are parsed and errors typed. It never
prints, prompts or reads the credentials file: it is handed a key.

One client per process: its connection pool serves every poll and download.
Bytes move through a ``Wire`` (httpx by default; the standard library for the
agent CLI's short-lived processes), so httpx is imported only when it is used.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any, Callable, TypeVar
from urllib.parse import urlencode, urljoin

from gptimg import __version__, errors
from gptimg.gateway.answers import DownloadInfo, ToolResult, flatten_mcp
from gptimg.gateway.bodies import (
    BodyTooLarge,
    UnsupportedEncoding,
    body_chunks,
    check_download_url,
    deadline_in,
    read_capped,
)
from gptimg.gateway.errormap import (
    CALL,
    DOWNLOAD,
    NOT_JSON,
    OAUTH,
    POLL,
    http_error,
    is_retryable,
    transport_error,
)
from gptimg.gateway.retry import NO_RETRY, RetryPolicy
from gptimg.gateway.urls import origin, same_origin, validate_base_url
from gptimg.gateway.wire import Headers, Response, Timeouts, Wire, WireFailure
from gptimg.image_tool import MAX_WAIT_SECONDS, RESULT_TOOL, SUBMIT_TOOL
from gptimg.redaction import TooDeep, redact_text, scrub_answer, strip_secrets

CONNECT_TIMEOUT = 10.0
#: Catalogue, account and other short reads.
READ_TIMEOUT = 30.0
#: A submit answers at once with a job id; the reference client allows 60 s.
SUBMIT_TIMEOUT = 60.0
#: Added to ``wait_seconds`` for a result poll: the server holds the request that long first.
POLL_READ_MARGIN = 20.0
DOWNLOAD_READ_TIMEOUT = 60.0
#: A whole image download, however slowly its bytes arrive (a per-read timeout never trips on a byte a second).
DOWNLOAD_TOTAL_SECONDS = 600.0
#: How long a poll may take past its caller's deadline: enough for one quick answer.
POLL_DEADLINE_GRACE = 5.0
#: A JSON answer larger than this is not an Uno gateway talking.
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
UPLOAD_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})

#: The header a sandbox gateway puts on every answer ("1"): how a client knows its credits are test ones.
SANDBOX_HEADER = "X-Uno-Sandbox"

T = TypeVar("T")
RetryListener = Callable[[errors.GptimgError, float], None]


CALLER_SKILL_ENV = "UNO_CALLER_SKILL"


def user_agent() -> str:
    """``gptimg/<v> python/<x.y>``, plus ``skill/<name>`` from ``UNO_CALLER_SKILL`` as uno-cli adds it.

    The skill name is cut to uno-cli's safe alphabet (letters, digits, ``-_.``, 64 characters),
    so the gateway attributes calls the same way whichever client a skill bundles.
    """
    agent = f"gptimg/{__version__} python/{sys.version_info.major}.{sys.version_info.minor}"
    caller = os.environ.get(CALLER_SKILL_ENV, "").strip()
    safe = "".join(ch for ch in caller if ch.isalnum() or ch in "-_.")[:64]
    return f"{agent} skill/{safe}" if safe else agent


class GatewayClient:
    """Talks to one gateway origin with one (optional) key."""

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

    def __repr__(self) -> str:  # never the key
        return f"GatewayClient({self.base_url!r}, authenticated={self._api_key is not None})"

    @property
    def authenticated(self) -> bool:
        return self._api_key is not None

    def with_key(self, api_key: str) -> GatewayClient:
        """A client for the same gateway and pool, speaking as another key."""
        clone = GatewayClient.__new__(GatewayClient)
        clone.__dict__.update(self.__dict__)
        clone._api_key = api_key
        return clone

    def close(self) -> None:
        self._wire.close()

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

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
        if not all("!" <= char <= "~" for char in key):
            raise errors.InvalidApiKey(
                "The API key is malformed: it has spaces, line breaks or non-ASCII characters.",
                hint="Check the key you gave (UNO_API_KEY, or log in again: gptimg login).",
            )
        return f"Bearer {key}"

    def _timeouts(self, read: float, until: float | None = None) -> Timeouts:
        """``read`` per socket read, never past ``until``: the caller's whole budget."""
        if until is not None:
            left = max(0.05, until - time.monotonic())
            return Timeouts(connect=min(CONNECT_TIMEOUT, left), read=min(read, left), write=min(30.0, left))
        return Timeouts(connect=CONNECT_TIMEOUT, read=read)

    def _scrubbed(self, body: Any) -> Any:
        """The one place gateway answers come in: the key is taken out of every string here.

        An answer nested too deeply to walk is ``NOT_JSON`` for ``errormap`` to judge.
        """
        if body is NOT_JSON:
            return body
        try:
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
        body = self._scrubbed(_parse(raw))
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

    def me(self) -> dict[str, Any]:
        body = self.get_json("/v1/auth/me", auth=True)
        if not isinstance(body, dict):
            raise errors.InvalidResponse("/v1/auth/me did not answer with an object.", body=body)
        return body

    def usage_history(self, *, limit: int, days: int = 7, include_search: bool = False) -> Any:
        """``GET /v1/usage/history``: the account's recent calls and what each was charged."""
        params: dict[str, Any] = {"limit": limit, "days": days}
        if include_search:
            params["include_search"] = "true"
        return self.get_json("/v1/usage/history", params=params, auth=True)

    def usage_summary(self) -> Any:
        """``GET /v1/usage/summary``: calls and credits for today, 7 and 30 days."""
        return self.get_json("/v1/usage/summary", auth=True)

    def health(self) -> Any:
        return self.get_json("/health")

    def search_tools(self, query: str, **filters: Any) -> Any:
        return self.get_json("/v1/tools", params={"q": query, **filters})

    def tool(self, slug: str) -> Any:
        """One catalogue entry, unwrapped from ``{"data": …, "error": null}`` when wrapped."""
        body = self.get_json(f"/v1/tools/{slug}")
        if isinstance(body, dict) and "data" in body and "error" in body:
            body = body["data"]
        if body is None:
            raise errors.ToolNotFound(f"Tool not found: {slug}")
        return body

    def _submit_entry(self) -> dict[str, Any] | None:
        """The submit tool's catalogue entry, read once per client (price and idempotency come from it)."""
        cache = self._submit_entry_cache
        if not cache:
            entry = self.tool(SUBMIT_TOOL)
            cache.append(entry if isinstance(entry, dict) else None)
        return cache[0]

    def submit_idempotency_field(self, *, fetch: bool = True) -> str | None:
        """The argument carrying an idempotency key, when the catalogue declares the submit idempotent.

        Only ``idempotency_mode`` ``native`` or ``gateway`` with an ``idempotency_key_field`` counts:
        then two submits with the same key are charged once, so a failed one may be sent again.
        With ``fetch=False`` only an entry already read (for the price, before the confirmation)
        is consulted, so a submit never costs an extra request.
        """
        if not fetch and not self._submit_entry_cache:
            return None
        try:
            entry = self._submit_entry()
        except errors.GptimgError:
            return None
        operation = entry.get("operation") if isinstance(entry, dict) else None
        if not isinstance(operation, dict) or operation.get("idempotency_mode") not in ("native", "gateway"):
            return None
        field = operation.get("idempotency_key_field")
        return field if isinstance(field, str) and field else None

    def submit_cost(self, default: int) -> int:
        """The submit tool's price from the catalogue; ``default`` when it cannot be read."""
        try:
            entry = self._submit_entry()
        except errors.GptimgError:
            return default
        pricing = entry.get("pricing") if isinstance(entry, dict) else None
        cost = pricing.get("cost") if isinstance(pricing, dict) else None
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0:
            return int(cost)
        return default

    # --- tool calls -------------------------------------------------------------------

    def call_tool(
        self,
        slug: str,
        arguments: dict[str, Any],
        *,
        timeout: float,
        retry: bool,
        view: bool = False,
        polled_job: str | None = None,
        deadline: float | None = None,
    ) -> ToolResult:
        """``POST /v1/call``. ``retry`` only for free calls; the submit tool is never retried.

        ``view`` asks the gateway for its compact ``view`` of the result (uno-cli's ``--view-only``).
        ``polled_job``: the call polls this job, so an answer that it is unknown raises ``JobNotFound``.
        """
        paid = slug == SUBMIT_TOOL
        if paid:
            retry = False

        def attempt() -> ToolResult:
            _, body, _ = self._exchange(
                "POST",
                "/v1/call",
                json_body={"tool": slug, "arguments": arguments, **({"view": True} if view else {})},
                auth=True,
                read_timeout=timeout,
                paid=paid,
                purpose=CALL if polled_job is None else POLL,
                job_id=polled_job,
                deadline=deadline,
            )
            if not isinstance(body, dict):
                failure_type = errors.SubmitOutcomeUnknown if paid else errors.InvalidResponse
                raise failure_type("/v1/call did not answer with an object.", body=body)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if paid and not body:
                # An empty (or ``{}``) 200 to a submit says nothing about the charge.
                raise errors.SubmitOutcomeUnknown(f"{self._host} answered the submit with an empty body.", status=200)
            try:
                data = flatten_mcp(body["data"] if "data" in body else body)
            except errors.GatewayError as exc:
                exc.details.setdefault("meta", meta)  # whether an MCP error result was charged
                raise
            return ToolResult(data=data, meta=meta, envelope=body)

        return self._retrying(attempt, retry=retry, deadline=deadline)

    def submit(self, arguments: dict[str, Any], *, idempotency_key: str | None = None) -> ToolResult:
        """Start a paid generation. Sent exactly once, unless the catalogue declares it idempotent.

        With ``idempotency_key`` and an idempotent catalogue entry, the key goes in the declared
        argument and a failed or doubtful submit is sent again with the same key (charged once).
        """
        field = self.submit_idempotency_field(fetch=False) if idempotency_key else None
        if field is None:
            return self.call_tool(SUBMIT_TOOL, arguments, timeout=SUBMIT_TIMEOUT, retry=False)
        keyed = {**arguments, field: idempotency_key}
        return self._retrying(
            lambda: self.call_tool(SUBMIT_TOOL, keyed, timeout=SUBMIT_TIMEOUT, retry=False),
            retry=True,
            also_retry=errors.SubmitOutcomeUnknown,
        )

    def poll_result(
        self, job_id: str, wait_seconds: float = MAX_WAIT_SECONDS, *, deadline: float | None = None
    ) -> ToolResult:
        """Free long-poll: the server holds it up to ``wait_seconds``; retried on hiccups.

        ``deadline`` (``time.monotonic``, the caller's ``--timeout``) bounds the whole call,
        retries and a slow body included, give or take ``POLL_DEADLINE_GRACE`` so that a
        deadline already reached (``--timeout 0``) still checks once.
        """
        if deadline is not None:
            deadline = max(deadline, time.monotonic()) + POLL_DEADLINE_GRACE
        wait = max(0, min(int(wait_seconds), MAX_WAIT_SECONDS))
        return self.call_tool(
            RESULT_TOOL,
            {"job_id": job_id, "wait_seconds": wait},
            timeout=wait + POLL_READ_MARGIN,
            retry=True,
            polled_job=job_id,
            deadline=deadline,
        )

    # --- files ------------------------------------------------------------------------

    def upload(self, data: bytes, content_type: str) -> str:
        """Upload a reference image; return a comma-free URL (or file id) to use instead."""
        if content_type not in UPLOAD_TYPES:
            raise errors.InvalidArguments(f"Cannot upload {content_type}: only PNG, JPEG, WebP and GIF.")
        if len(data) > MAX_UPLOAD_BYTES:
            raise errors.InvalidArguments("A reference image may be at most 8 MiB.")
        body = self._retrying(
            lambda: self._exchange(
                "POST", "/v1/files", content=data, content_type=content_type, auth=True, read_timeout=120.0
            )[1],
            retry=True,
        )
        if isinstance(body, dict):
            for key in ("url", "file_id"):
                value = body.get(key)
                if isinstance(value, str) and value and "," not in value:
                    return value
        raise errors.InvalidResponse("The upload answer carried no usable url or file_id.", body=body)

    def download(
        self, url: str, sink: IO[bytes], *, max_bytes: int | None = None, deadline: float | None = None
    ) -> DownloadInfo:
        """Stream ``url`` into ``sink`` (rewound on each retry). Free, so retried.

        The key is attached only when ``url`` is on the gateway's own origin, and
        redirects are followed by hand so it never crosses to another host.
        Ends by ``DOWNLOAD_TOTAL_SECONDS`` or ``deadline`` (``time.monotonic``), retries included.
        """
        check_download_url(url)
        until = deadline_in(DOWNLOAD_TOTAL_SECONDS, deadline)

        def attempt() -> DownloadInfo:
            sink.seek(0)
            sink.truncate()
            with self._open_download(url, until) as response:
                size = 0
                try:
                    for chunk in body_chunks(response, max_bytes=max_bytes, until=until):
                        size += len(chunk)
                        sink.write(chunk)
                except BodyTooLarge:
                    raise errors.InvalidResponse(f"The image at {_host_of(url)} is larger than allowed.") from None
                except UnsupportedEncoding as exc:
                    raise errors.InvalidResponse(
                        f"The image at {_host_of(url)} came in an encoding we cannot read ({exc})."
                    ) from None
                sink.flush()
                content_type = self._scrubbed(response.headers.get("content-type") or "")
                return DownloadInfo(content_type=content_type, size=size)

        return self._retrying(attempt, retry=True, deadline=until)

    @contextmanager
    def _open_download(self, url: str, until: float | None = None) -> Iterator[Response]:
        current = url
        for _ in range(6):
            headers = {"Accept": "image/*,*/*;q=0.5", "Accept-Encoding": "identity", "User-Agent": user_agent()}
            if self._api_key is not None and same_origin(current, self.base_url):
                headers["Authorization"] = self._authorization()
            try:
                response = self._wire.send(
                    "GET", current, headers=headers, content=None,
                    timeouts=self._timeouts(DOWNLOAD_READ_TIMEOUT, until),
                )
            except WireFailure as failure:
                raise transport_error(failure, _host_of(current)) from None
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                response.close()
                try:
                    current = urljoin(current, location)
                    check_download_url(current)
                except (ValueError, errors.InvalidResponse):
                    raise errors.InvalidResponse(f"Refusing a redirect to an unusable URL from {_host_of(url)}.") from None
                continue
            try:
                failure = http_error(
                    response.status_code, None, response.headers, host=_host_of(current), purpose=DOWNLOAD
                )
                if failure is not None:
                    raise failure
                try:
                    yield response
                except WireFailure as failure:
                    raise transport_error(failure, _host_of(current)) from None
            finally:
                response.close()
            return
        raise errors.InvalidResponse(f"Too many redirects downloading from {_host_of(url)}.")


def _host_of(url: str) -> str:
    try:
        return origin(url)[1] or "the image host"
    except ValueError:
        return "the image host"


def _parse(raw: bytes) -> Any:
    """The JSON body (an empty one reads as ``{}``), or ``NOT_JSON`` for ``errormap`` to judge."""
    if not raw.strip():
        return {}
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return NOT_JSON


_REDIRECTS = frozenset({301, 302, 303, 307, 308})
