"""What every sandbox route shares: the answer writers, the caller's key, timing, and the server's state.

Why a base class: the routes are split by family (device login, tool calls,
files and images, account) into mixins, and each needs the same few helpers;
one base keeps a single copy of how an answer is written — every answer says
it came from the sandbox (``SANDBOX_HEADER``), so clients keep its accounts and
jobs apart from real ones.
"""

from __future__ import annotations

import json
import socket
import time
from typing import TYPE_CHECKING, Any

from gptimg import __version__
from gptimg.gateway.exchange import SANDBOX_HEADER

from .request_body import BodyReading
from .request_head import RequestHead
from .state import SandboxState

if TYPE_CHECKING:
    from .server import SandboxGateway, _SandboxHTTPServer


#: Bodies up to this size are joined to the head and sent in one write (a copy this small is cheaper
#: than a second system call); larger ones are written in their parts.
_ONE_WRITE_LIMIT = 256 * 1024


class HandlerBase(RequestHead, BodyReading):
    """One connection's shared plumbing; the route families subclass this."""

    protocol_version = "HTTP/1.1"
    server_version = f"uno-sandbox/{__version__}"
    sys_version = ""
    #: Idle keep-alive connections are dropped after this; must exceed the longest long-poll (50 s).
    timeout = 120
    server: _SandboxHTTPServer
    _started: float
    _status: int
    _head: bool
    _query: dict[str, str]

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
        """Quiet by default; ``--verbose`` gets our own one-line log from the dispatcher."""

    @property
    def gateway(self) -> SandboxGateway:
        return self.server.gateway

    @property
    def state(self) -> SandboxState:
        return self.server.gateway.state

    def _send(self, status: int, body: bytes | list[bytes], content_type: str,
              headers: dict[str, str] | None = None) -> None:
        """Write one complete answer; its head and a small body leave in one ``sendall``.

        Every answer carries Content-Length, so a keep-alive connection always knows where it
        ends. The head is built here rather than through ``send_header``/``end_headers``
        (a write for the head, another for the body): one system call and one TCP segment
        fewer per answer, for the sandbox and for the client reading it.
        """
        parts = body if isinstance(body, list) else [body]
        length = sum(len(p) for p in parts)
        self._status = status
        if self.server.stopping:  # the last answer on this connection: see server.end_connections
            self.close_connection = True
        lines = [
            f"{self.protocol_version} {status} {self.responses.get(status, ('',))[0]}",
            f"Server: {self.version_string()}",
            f"Date: {self.date_time_string()}",
            f"Content-Type: {content_type}",
            f"Content-Length: {length}",
            # Says what this is on every answer: clients keep its accounts and jobs apart from real ones.
            f"{SANDBOX_HEADER}: 1",
        ]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        if self.close_connection:
            lines.append("Connection: close")
        head = b"" if self.request_version == "HTTP/0.9" else ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self._head:
            self.wfile.write(head)
        elif length <= _ONE_WRITE_LIMIT:
            self.wfile.write(head + b"".join(parts))
        else:  # big bodies (padded benchmark images) are written as they are, never copied
            self.wfile.write(head)
            for part in parts:
                self.wfile.write(part)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self._send(status, body, "application/json; charset=utf-8", headers)

    def _send_html(self, status: int, page: str) -> None:
        self._send(status, page.encode("utf-8"), "text/html; charset=utf-8")

    def _api_key(self) -> str | None:
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def _latency_ms(self) -> int:
        return int((time.perf_counter() - self._started) * 1000)

    def _meta(self, credits_used: int, **extra: Any) -> dict[str, Any]:
        return {"latency_ms": self._latency_ms(), "credits_used": credits_used, **extra}
