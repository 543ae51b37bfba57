"""A loopback HTTP proxy that breaks chosen requests on their way to a real (sandbox) gateway.

Each request is shown to a rule; the rule returns a ``Fault`` or None (pass through).
Responses are rewritten so absolute URLs point back at the proxy, which lets
downloads be broken too.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import urlsplit

from .scripted import Request

#: A request as the proxy saw it: the same record the scripted gateway keeps.
Seen = Request


@dataclass
class Fault:
    """What to do instead of (or on top of) forwarding.

    kind: ``status`` (answer ``status``/``body``/``headers`` without forwarding),
    ``reset`` (close without answering; ``forward_first`` sends it upstream first),
    ``hang`` (wait ``seconds``, then forward), ``drip`` (forward, then relay the body a byte
    per ``seconds``), ``truncate`` (forward, send ``keep``
    bytes of the body under the full Content-Length, close), ``hold`` (forward at
    once, then wait ``seconds`` before relaying the answer: the upstream acted, the
    client is still waiting).

    ``gate``: for ``hang`` and ``hold``, stop waiting as soon as this event is set
    (tests set it at teardown so no proxy thread outlives them). ``reached``: set
    when the fault starts waiting (``hang``) or once the request went upstream
    (``hold``), so a test knows exactly which phase the client is in.
    """

    kind: str
    status: int = 502
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    keep: int = 100
    forward_first: bool = False
    gate: threading.Event | None = None
    reached: threading.Event | None = None

    def wait(self) -> None:
        if self.reached is not None:
            self.reached.set()
        if self.gate is not None:
            self.gate.wait(self.seconds)
        else:
            time.sleep(self.seconds)


Rule = Callable[[Seen], "Fault | None"]


class FaultProxy:
    def __init__(self, upstream: str, rule: Rule | None = None) -> None:
        self.upstream = upstream.rstrip("/")
        self.rule: Rule = rule or (lambda seen: None)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                seen = Seen(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                with proxy._lock:
                    proxy.seen.append(seen)
                fault = proxy.rule(seen)
                if fault is None:
                    self._relay(*proxy._forward(seen))
                elif fault.kind == "status":
                    payload = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body or {}).encode()
                    self._relay(fault.status, {"Content-Type": "application/json", **fault.headers}, payload)
                elif fault.kind == "reset":
                    if fault.forward_first:
                        proxy._forward(seen)
                    self._reset()
                elif fault.kind == "hang":
                    fault.wait()
                    try:
                        self._relay(*proxy._forward(seen))
                    except OSError:
                        pass
                elif fault.kind == "hold":
                    answer = proxy._forward(seen)
                    fault.wait()
                    try:
                        self._relay(*answer)
                    except OSError:
                        pass
                elif fault.kind == "drip":
                    status, headers, payload = proxy._forward(seen)
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    try:
                        for index in range(len(payload)):
                            self.wfile.write(payload[index:index + 1])
                            self.wfile.flush()
                            if fault.gate is None:
                                time.sleep(fault.seconds)
                            elif fault.gate.wait(fault.seconds):
                                break
                    except OSError:
                        pass
                    self._reset()
                elif fault.kind == "truncate":
                    status, headers, payload = proxy._forward(seen)
                    self.send_response(status)
                    for name, value in headers.items():
                        if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                            self.send_header(name, value)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload[: fault.keep])
                    self.wfile.flush()
                    self._reset()

            def _relay(self, status: int, headers: dict[str, str], payload: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def _reset(self) -> None:
                self.close_connection = True
                try:
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

            do_GET = do_POST = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def _forward(self, seen: Seen) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        headers = {k: v for k, v in seen.headers.items() if k not in ("host", "connection", "content-length")}
        connection.request(seen.method, seen.path, body=seen.body or None, headers=headers)
        response = connection.getresponse()
        payload = response.read()
        connection.close()
        payload = payload.replace(self.upstream.encode(), self.base_url.encode())
        return response.status, dict(response.getheaders()), payload

    def calls(self, tool: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == "/v1/call" and s.tool == tool]

    def start(self) -> FaultProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
