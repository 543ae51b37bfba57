"""The sandbox's HTTP face: a ThreadingHTTPServer whose handler routes gateway paths onto the state.

Why the standard library and not an ASGI framework: the sandbox must start
with zero extra dependencies (it is the project's offline default), its
traffic is a few requests a second plus some long-polls, and a thread per
connection makes "hold this request until the job ends" a plain
``Condition.wait``. ``daemon_threads`` keeps stuck clients from blocking
shutdown; ``request_queue_size`` is raised so a burst of 100+ concurrent
long-polls is accepted instead of refused at the socket backlog.
"""

from __future__ import annotations

import json
import math
import re
import socket
import socketserver
import sys
import threading
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

from gptimg import __version__
from gptimg import image_tool as styles  # f2-core: lead renames styles. -> image_tool. after the f1 split
from gptimg.gateway.exchange import SANDBOX_HEADER

from . import accounting, catalog, device_page, images
from .config import SandboxConfig, check_loopback, url_host
from .failures import ApiFailure, invalid_arguments
from .state import MAX_FILE_BYTES, UPLOAD_TYPES, Job, SandboxState, TokenError
from .validation import validate_result, validate_submit

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
#: JSON bodies above this are refused before parsing (the arguments limit is 100 KB).
MAX_JSON_BODY = 1024 * 1024
#: Oversized bodies up to this are read and discarded so the client sees our 413, not a reset.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
_CDN_PATH = re.compile(r"^/cdn/([0-9a-f]{6,32})/(\d{1,2})\.png$")
_FILE_PATH = re.compile(r"^/files/(f_[0-9a-f]{32})$")


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, host: str, port: int, gateway: SandboxGateway, role: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self.gateway = gateway
        #: "gateway" serves the API; "cdn" serves only image files (the separate-origin stand-in).
        self.role = role
        super().__init__((host.strip("[]"), port), SandboxHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class SandboxHandler(BaseHTTPRequestHandler):
    """One connection; methods named ``route_*`` are the gateway's endpoints."""

    protocol_version = "HTTP/1.1"
    server_version = f"uno-sandbox/{__version__}"
    sys_version = ""
    #: Idle keep-alive connections are dropped after this; must exceed the longest long-poll (50 s).
    timeout = 120
    server: _SandboxHTTPServer

    # --- plumbing -----------------------------------------------------------------

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; with Nagle on, the second waits for the
        # client's delayed ACK (~40 ms a request on keep-alive connections).
        try:
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet by default; ``--verbose`` gets our own one-line log from :meth:`_dispatch`."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    @property
    def gateway(self) -> SandboxGateway:
        return self.server.gateway

    @property
    def state(self) -> SandboxState:
        return self.server.gateway.state

    def _dispatch(self, method: str) -> None:
        started = time.perf_counter()
        self._started = started
        self._status = 0
        self._head = method == "HEAD"
        parts = urlsplit(self.path)
        path = parts.path
        self._query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            try:
                self._consume_body(path)
                handler = self._route(method if method != "HEAD" else "GET", path)
                handler(path)
            except ApiFailure as failure:
                self._send_json(failure.status, failure.body(), failure.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # a sandbox bug: answer 500 and show the traceback to whoever runs it
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._send_json(500, {"error": "internal_error", "message": "sandbox bug; see its stderr"})
            except OSError:
                pass
        if self.gateway.config.verbose:
            elapsed = (time.perf_counter() - started) * 1000
            sys.stderr.write(f"sandbox: {method} {path} -> {self._status} ({elapsed:.0f} ms)\n")
            sys.stderr.flush()

    def _route(self, method: str, path: str) -> Callable[[str], None]:
        if self.server.role == "cdn":
            if method == "GET" and _CDN_PATH.match(path):
                return self.route_cdn_image
            raise ApiFailure(404, "not_found", "The image host serves only /cdn/ image files.")
        if not path.startswith("/_sandbox/"):
            self.state.count_request()
        exact: dict[tuple[str, str], Callable[[str], None]] = {
            ("GET", "/health"): self.route_health,
            ("POST", "/oauth/device/code"): self.route_device_code,
            ("POST", "/oauth/token"): self.route_token,
            ("GET", "/device"): self.route_device_page,
            ("POST", "/device/approve"): self.route_device_approve,
            ("POST", "/device/deny"): self.route_device_deny,
            ("GET", "/v1/auth/me"): self.route_me,
            ("GET", "/v1/tools"): self.route_tools,
            ("POST", "/v1/files"): self.route_upload,
            ("POST", "/v1/call"): self.route_call,
            ("GET", "/v1/usage/history"): self.route_usage_history,
            ("GET", "/v1/usage/summary"): self.route_usage_summary,
            ("GET", "/pricing"): self.route_pricing,
            ("GET", "/_sandbox/stats"): self.route_stats,
            ("POST", "/_sandbox/accounts"): self.route_create_account,
        }
        if (method, path) in exact:
            return exact[(method, path)]
        if method == "GET":
            if path.startswith("/v1/tools/"):
                return self.route_tool
            if _FILE_PATH.match(path):
                return self.route_file
            if _CDN_PATH.match(path) and not self.gateway.config.separate_cdn:
                return self.route_cdn_image
        if any(p == path for (_, p) in exact):
            raise ApiFailure(405, "method_not_allowed", f"{method} is not allowed on {path}.")
        raise ApiFailure(404, "not_found", f"No such endpoint: {path}")

    def _consume_body(self, path: str) -> None:
        """Read the whole body before routing, so an early answer (401, 404) never leaves
        unread bytes on a keep-alive connection; a size failure is kept for the route to raise."""
        self._body = b""
        self._body_failure: ApiFailure | None = None
        try:
            self._body = self._read_raw_body(MAX_FILE_BYTES if path == "/v1/files" else MAX_JSON_BODY)
        except ApiFailure as failure:
            if self.close_connection:
                raise
            self._body_failure = failure

    def _read_body(self) -> bytes:
        if self._body_failure is not None:
            raise self._body_failure
        return self._body

    def _read_raw_body(self, limit: int) -> bytes:
        """The request body (Content-Length or chunked); too large → 413, drained so keep-alive survives."""
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = self.rfile.readline(65537)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                data = self.rfile.read(size)
                self.rfile.readline(65537)
                total += size
                if total <= limit:
                    chunks.append(data)
                elif total > MAX_DRAIN_BYTES:
                    self.close_connection = True
                    break
            if total > limit:
                raise self._too_large(limit)
            return b"".join(chunks)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiFailure(400, "invalid_request", "Content-Length is not a number.") from None
        if length > limit:
            if length > MAX_DRAIN_BYTES:
                self.close_connection = True
            else:
                remaining = length
                while remaining > 0:
                    got = self.rfile.read(min(remaining, 1 << 16))
                    if not got:
                        break
                    remaining -= len(got)
            raise self._too_large(limit)
        return self.rfile.read(length) if length > 0 else b""

    @staticmethod
    def _too_large(limit: int) -> ApiFailure:
        return ApiFailure(413, "file_too_large", f"The request body exceeds {limit} bytes.")

    def _read_fields(self) -> dict[str, Any]:
        """A JSON object body, or an HTML form body; anything else is an empty dict."""
        raw = self._read_body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if not raw.strip():
            return {}
        if ctype == "application/x-www-form-urlencoded":
            return {k: v[-1] for k, v in parse_qs(raw.decode("utf-8", "replace")).items()}
        try:
            value = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ApiFailure(400, "invalid_request", "The body is not valid JSON.") from None
        if not isinstance(value, dict):
            raise ApiFailure(400, "invalid_request", "The body must be a JSON object.")
        return value

    def _send(self, status: int, body: bytes | list[bytes], content_type: str,
              headers: dict[str, str] | None = None) -> None:
        parts = body if isinstance(body, list) else [body]
        self._status = status
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(len(p) for p in parts)))
        # Says what this is on every answer: clients keep its accounts and jobs apart from real ones.
        self.send_header(SANDBOX_HEADER, "1")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not self._head:
            for part in parts:
                self.wfile.write(part)
        self.wfile.flush()

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send_html(self, status: int, page: str) -> None:
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def _api_key(self) -> str | None:
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _meta(self, credits_used: int, **extra: Any) -> dict[str, Any]:
        latency = int((time.perf_counter() - self._started) * 1000)
        return {"latency_ms": latency, "credits_used": credits_used, **extra}

    # --- public endpoints ---------------------------------------------------------

    def route_health(self, path: str) -> None:
        self._send_json(200, {"status": "ok", "sandbox": True})

    def route_pricing(self, path: str) -> None:
        self._send_html(200, device_page.outcome_page(
            "Recharge", "The sandbox cannot sell credits. Restart it with --credits N for a bigger balance."))

    def route_tools(self, path: str) -> None:
        try:
            limit = int(self._query.get("limit", "10"))
        except ValueError:
            raise invalid_arguments("limit must be an integer from 1 to 50", "limit") from None
        if not 1 <= limit <= 50:
            raise invalid_arguments("limit must be an integer from 1 to 50", "limit")
        tools = catalog.search_tools(
            self._query.get("q", ""), limit=limit,
            category=self._query.get("category") or None, server=self._query.get("server") or None,
        )
        tools = [self._declared(tool) for tool in tools]
        self._send_json(200, {"tools": tools, "total": len(tools)})

    def route_tool(self, path: str) -> None:
        slug = path[len("/v1/tools/"):]
        tool = catalog.get_tool(slug)
        if tool is None:
            raise ApiFailure(404, "tool_not_found", f"Tool not found: {slug}")
        # The real gateway sometimes wraps this answer; doing it always keeps clients honest.
        self._send_json(200, {"data": self._declared(tool), "error": None})

    def _declared(self, tool: dict[str, Any]) -> dict[str, Any]:
        """The catalogue entry, with the submit declared idempotent under ``--idempotent-submit``."""
        if self.gateway.config.idempotent_submit and tool.get("tool") == styles.SUBMIT_TOOL:
            tool["operation"] = accounting.idempotent_operation()
        return tool

    def route_usage_history(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        self._send_json(200, accounting.ledger_of(self.gateway).history(account.id, self._query))

    def route_usage_summary(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        self._send_json(200, accounting.ledger_of(self.gateway).summary(account.id))

    # --- device-code login --------------------------------------------------------

    def route_device_code(self, path: str) -> None:
        fields = self._read_fields()
        grant = self.state.start_device(
            client_id=str(fields.get("client_id") or "uno-cli"), scope=str(fields.get("scope") or "")
        )
        verification_uri = f"{self.gateway.base_url}/device"
        self._send_json(200, {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?code={grant.user_code}",
            "expires_in": self.gateway.config.expires_in,
            "interval": grant.interval,
        })

    def route_token(self, path: str) -> None:
        fields = self._read_fields()
        error_status = self.gateway.config.token_error_status
        if fields.get("grant_type") != DEVICE_GRANT_TYPE:
            self._send_json(error_status, {"error": "unsupported_grant_type",
                                           "error_description": f"grant_type must be {DEVICE_GRANT_TYPE}"})
            return
        try:
            key, grant = self.state.poll_token(str(fields.get("device_code") or ""))
        except TokenError as err:
            self._send_json(error_status, {"error": err.code, "error_description": err.description},
                            {"Cache-Control": "no-store"})
            return
        self._send_json(200, {"access_token": key, "token_type": "bearer", "scope": grant.scope},
                        {"Cache-Control": "no-store"})

    def route_device_page(self, path: str) -> None:
        code = self._query.get("code", "").strip()
        if not code:
            self._send_html(200, device_page.enter_code_page())
            return
        grant = self.state.grant_for_user_code(code)
        if grant is None:
            self._send_html(404, device_page.enter_code_page(f"Unknown code: {code}"))
            return
        self._send_html(200, device_page.authorise_page(grant.user_code, grant.scope, grant.client_id))

    def _decide(self, approve: bool) -> None:
        fields = self._read_fields()
        user_code = str(fields.get("user_code") or "")
        email = str(fields.get("email") or "") or None
        try:
            self.state.decide_device(user_code, approve=approve, email=email)
        except ApiFailure as failure:
            self._send_html(failure.status, device_page.outcome_page("Not recorded", failure.message))
            return
        if approve:
            self._send_html(200, device_page.outcome_page(
                "Authorised", "You can close this page and return to your terminal."))
        else:
            self._send_html(200, device_page.outcome_page("Denied", "The login request was denied."))

    def route_device_approve(self, path: str) -> None:
        self._decide(approve=True)

    def route_device_deny(self, path: str) -> None:
        self._decide(approve=False)

    # --- authenticated endpoints --------------------------------------------------

    def route_me(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        described = {**self.state.describe_account(account), "sandbox": True}
        self._send_json(200, accounting.account_in_shape(described, self.gateway.config.account_shape))

    def route_upload(self, path: str) -> None:
        self.state.account_for_key(self._api_key())
        data = self._read_body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in UPLOAD_TYPES:
            raise ApiFailure(415, "unsupported_media_type",
                             f"Upload an image: one of {', '.join(sorted(UPLOAD_TYPES))}.")
        if not data:
            raise ApiFailure(400, "empty_file", "The upload is empty.")
        stored = self.state.store_file(ctype, data)
        self._send_json(200, {"url": f"{self.gateway.base_url}/files/{stored.file_id}",
                              "file_id": stored.file_id, "size": len(data), "content_type": ctype})

    def route_file(self, path: str) -> None:
        stored = self.state.get_file(path[len("/files/"):])
        if stored is None:
            raise ApiFailure(404, "not_found", "No such file.")
        self._send(200, stored.data, stored.content_type)

    def route_call(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        fields = self._read_fields()
        tool = fields.get("tool")
        arguments = fields.get("arguments", {})
        if not isinstance(tool, str) or catalog.get_tool(tool) is None:
            raise ApiFailure(404, "tool_not_found", f"Tool not found: {tool}", meta={"credits_used": 0})
        if len(json.dumps(arguments, ensure_ascii=False)) > styles.MAX_ARGUMENTS_CHARS:
            raise invalid_arguments("arguments exceed 100 KB once serialised")
        ledger = accounting.ledger_of(self.gateway)
        try:
            charged = self._call_submit(account, arguments) if tool == styles.SUBMIT_TOOL else 0
            if tool != styles.SUBMIT_TOOL:
                self._call_result(account, arguments)
        except ApiFailure as failure:
            ledger.record(account.id, tool, credits=0, success=False, error_code=failure.code,
                          latency_ms=self._latency_ms())
            raise
        ledger.record(account.id, tool, credits=max(charged, 0), success=charged >= 0,
                      error_code="tool_error" if charged < 0 else None, latency_ms=self._latency_ms())

    def _latency_ms(self) -> int:
        return int((time.perf_counter() - self._started) * 1000)

    def _call_submit(self, account: Any, arguments: Any) -> int:
        """Credits charged; -1 for an MCP error result (recorded as a failed call)."""
        key = None
        if self.gateway.config.idempotent_submit and isinstance(arguments, dict):
            arguments = dict(arguments)
            key = arguments.pop(accounting.IDEMPOTENCY_KEY_FIELD, None)
        args = validate_submit(arguments)
        if accounting.TOOL_ERROR_TRIGGER in args.prompt:
            self._send_json(200, accounting.tool_error_result(self._meta(0)))
            return -1
        ledger = accounting.ledger_of(self.gateway)
        known = ledger.job_for_key(account.id, str(key)) if key else None
        repeated = self.state.job_for(account, known) if known else None
        if repeated is not None:  # the same key again: the first job, not a second charge
            data = {"status": "pending", "job_id": repeated.job_id, "estimated_seconds": 1}
            self._send_json(200, {"data": data, "meta": self._meta(0, charged=False, idempotent_replay=True)})
            return 0
        job = self.state.submit(account, args, recharge_url=f"{self.gateway.base_url}/pricing")
        if key:
            ledger.remember_key(account.id, str(key), job.job_id)
        # Draw the images while the job "runs", as the model would: a CDN then serves finished
        # bytes at once, and the client's download time is not the sandbox's rendering time.
        threading.Thread(target=_prerender, args=(job,), name=f"render-{job.job_id}", daemon=True).start()
        cost = catalog.tool_cost(styles.SUBMIT_TOOL)
        data = {"status": "pending", "job_id": job.job_id, "estimated_seconds": max(1, math.ceil(job.delay))}
        self._send_json(200, {"data": data, "meta": self._meta(
            cost, charged=True, credits_remaining=self.state.credits_of(account))})
        return cost

    def _call_result(self, account: Any, arguments: Any) -> None:
        job_id, wait_seconds = validate_result(arguments)
        injected = self.state.draw_poll_failure()
        if injected == "429":
            retry = self.gateway.config.retry_after
            raise ApiFailure(429, "rate_limit_exceeded", "Sandbox: injected rate limit (--fail-rate).",
                             meta={"retry_after_seconds": retry, "credits_used": 0},
                             headers={"Retry-After": str(retry)})
        if injected == "502":
            raise ApiFailure(502, "upstream_error", "Sandbox: injected upstream failure (--fail-rate).",
                             meta={"credits_used": 0, "charged": False})
        job = self.state.job_for(account, job_id)
        status = self.state.wait_for_job(job, wait_seconds)
        payload = self._job_payload(job, status)
        # MCP-style answer, as the real gateway gives for some tools: clients must flatten it.
        data = {"content": [{"type": "text", "text": json.dumps(payload, ensure_ascii=False)}]}
        self._send_json(200, {"data": data, "meta": self._meta(0)})

    def _job_payload(self, job: Job, status: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"status": status, "job_id": job.job_id}
        if status == "done":
            base = self.gateway.image_base_url
            payload["items"] = [{"url": f"{base}/cdn/{job.job_id}/{i}.png"} for i in range(job.args.n)]
        elif status == "error":
            payload["error"] = "Sandbox: generation failed because the prompt asked for it ([sandbox:fail])."
        return payload

    # --- images -------------------------------------------------------------------

    def route_cdn_image(self, path: str) -> None:
        self.state.count_cdn_request(self.headers.get("Authorization") is not None)
        match = _CDN_PATH.match(path)
        assert match is not None
        job = self.state.finished_job(match.group(1))
        index = int(match.group(2))
        if job is None or index >= job.args.n:
            raise ApiFailure(404, "not_found", "No such image.")
        png = images.render_image(job.args.prompt, job.args.style, job.args.size, index)
        parts = images.png_parts(png, self.gateway.config.image_padding_bytes)
        self._send(200, parts, "image/png", {"Cache-Control": "public, max-age=86400"})

    # --- test introspection -------------------------------------------------------

    def route_stats(self, path: str) -> None:
        self._send_json(200, self.state.stats())

    def route_create_account(self, path: str) -> None:
        fields = self._read_fields()
        email = fields.get("email")
        name = fields.get("name") or (email.split("@")[0] if isinstance(email, str) else None)
        credits = fields.get("credits")
        if not isinstance(email, str) or "@" not in email or not isinstance(name, str):
            raise ApiFailure(400, "invalid_request", "email (and optionally name, credits) required.")
        if credits is not None and (isinstance(credits, bool) or not isinstance(credits, int) or credits < 0):
            raise ApiFailure(400, "invalid_request", "credits must be a non-negative integer.")
        self._send_json(200, {"api_key": self.state.create_account(name, email, credits)})


def _prerender(job: Job) -> None:
    for index in range(job.args.n):
        images.render_image(job.args.prompt, job.args.style, job.args.size, index)


def _shut_down_now(server: _SandboxHTTPServer) -> None:
    """``server.shutdown()`` without waiting out the serve loop's poll interval.

    ``shutdown`` only raises a flag that ``serve_forever`` checks between polls, so
    it took up to 100 ms, the largest part of stopping the embedded sandbox after
    every ``generate --sandbox``. A connection to the listener wakes the loop at once.
    """
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    host, port = server.server_address[:2]
    for _ in range(10):  # a wake-up can come before the flag is up; another one then
        try:
            socket.create_connection((str(host), int(port)), timeout=1).close()
        except OSError:
            break  # not accepting: the poll interval ends it all the same
        stopper.join(0.01)
        if not stopper.is_alive():
            return
    stopper.join()


class SandboxGateway:
    """A running sandbox: ``with SandboxGateway(SandboxConfig(delay=0.2)) as sb: ... sb.base_url``."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        check_loopback(self.config.host)
        self.state = SandboxState(self.config)
        self._servers: list[_SandboxHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> SandboxGateway:
        """Bind (main listener, and the CDN one if asked) and serve on daemon threads."""
        with self._lock:
            if self._servers:
                return self
            if self._stopped:
                raise RuntimeError("a stopped sandbox cannot be restarted; create a new SandboxGateway")
            servers = [_SandboxHTTPServer(self.config.host, self.config.port, self, "gateway")]
            try:
                if self.config.separate_cdn:
                    servers.append(_SandboxHTTPServer(self.config.host, 0, self, "cdn"))
            except OSError:
                servers[0].server_close()
                raise
            self._servers = servers
            for server in servers:
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.1},
                    name=f"sandbox-{server.role}", daemon=True,
                )
                thread.start()
                self._threads.append(thread)
            return self

    def _origin(self, server: _SandboxHTTPServer) -> str:
        return f"http://{url_host(self.config.host)}:{server.server_address[1]}"

    @property
    def port(self) -> int:
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return int(self._servers[0].server_address[1])

    @property
    def base_url(self) -> str:
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return self._origin(self._servers[0])

    @property
    def image_base_url(self) -> str:
        """Origin of image URLs: the CDN listener when ``separate_cdn``, else the gateway itself."""
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return self._origin(self._servers[-1])

    def create_account(self, name: str = "Test User", email: str | None = None,
                       credits: int | None = None) -> str:
        """A fresh API key; a new ``email`` makes a new account (with ``credits`` or the default)."""
        if email is None:
            email = f"user-{time.monotonic_ns():x}-{threading.get_ident():x}@example.invalid"
        return self.state.create_account(name, email, credits)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def stop(self) -> None:
        """Wake long-polls, stop accepting, close the sockets. Safe to call twice."""
        with self._lock:
            servers, self._servers = self._servers, []
            threads, self._threads = self._threads, []
            self._stopped = self._stopped or bool(servers)
        if not servers:
            return
        self.state.stop()
        for server in servers:
            _shut_down_now(server)
            server.server_close()
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> SandboxGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
