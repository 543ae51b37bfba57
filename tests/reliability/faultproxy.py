"""A loopback HTTP proxy that breaks chosen requests on their way to a real (sandbox) gateway.

Each request is shown to a rule; the rule returns a ``Fault`` or None (pass through).
Responses are rewritten so absolute URLs point back at the proxy, which lets
downloads be broken too.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

from stubserver import StubHandler, StubServer

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

    ``gate``: for ``hang``, ``hold`` and ``drip``, stop waiting as soon as this event is set
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


class FaultProxy(StubServer):
    name = "fault-proxy"

    def __init__(self, upstream: str, rule: Rule | None = None) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.rule: Rule = rule or (lambda seen: None)
        self.seen: list[Seen] = []

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        seen = Seen(method, path, headers, body)
        with self._lock:
            self.seen.append(seen)
        fault = self.rule(seen)
        if fault is None:
            self._relay(handler, *self._forward(seen))
        elif fault.kind == "status":
            payload = fault.body if isinstance(fault.body, bytes) else json.dumps(fault.body or {}).encode()
            self._relay(handler, fault.status, {"Content-Type": "application/json", **fault.headers}, payload)
        elif fault.kind == "reset":
            if fault.forward_first:
                self._forward(seen)
            _reset(handler)
        elif fault.kind == "hang":
            fault.wait()
            self._relay(handler, *self._forward(seen))
        elif fault.kind == "hold":
            answer = self._forward(seen)
            fault.wait()
            self._relay(handler, *answer)
        elif fault.kind == "drip":
            status, upstream_headers, payload = self._forward(seen)
            skip = ("content-length", "connection", "transfer-encoding")
            handler.send(status, {k: v for k, v in upstream_headers.items() if k.lower() not in skip}, payload,
                         drip=fault.seconds, until=fault.gate)
            _reset(handler)
        elif fault.kind == "truncate":
            status, upstream_headers, payload = self._forward(seen)
            handler.send_response(status)
            for name, value in upstream_headers.items():
                if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(payload)))
            handler.end_headers()
            handler.wfile.write(payload[: fault.keep])
            handler.wfile.flush()
            _reset(handler)

    @staticmethod
    def _relay(handler: StubHandler, status: int, headers: dict[str, str], payload: bytes) -> None:
        skip = ("content-length", "connection", "transfer-encoding", "date", "server")
        handler.send(status, {k: v for k, v in headers.items() if k.lower() not in skip}, payload)

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


def _reset(handler: StubHandler) -> None:
    handler.hang_up()
