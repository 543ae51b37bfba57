"""A tiny scripted Uno gateway on 127.0.0.1 for misbehaviour the sandbox never shows.

By default it answers like a healthy gateway (catalogue, account, submit, a done
result, PNG images under ``/cdn/``). A test overrides single routes with an
``Answer`` or a function of the request, and reads back every request it got
(headers included), so it can prove what was, and was not, sent.

Route keys: ``"GET /v1/auth/me"``; ``"CALL <tool slug>"`` for ``POST /v1/call``;
``"GET /v1/tools/"``, ``"GET /cdn/"``, ``"GET /files/"`` for path prefixes.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Union

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from stubserver import StubHandler, StubServer


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def tiny_png(width: int = 2, height: int = 3) -> bytes:
    """A complete, valid PNG (signature, IHDR, IDAT, IEND with right CRCs)."""
    chunk = png_chunk
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\x80\x40\x20" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


PNG = tiny_png()


@dataclass
class Answer:
    """One scripted response. ``body``: bytes as is, str as text, anything else as JSON."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = None
    #: Seconds between body bytes: a server that answers a byte at a time (0: all at once).
    drip: float = 0.0

    def encode(self) -> tuple[bytes, str]:
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode(), self.content_type or "text/plain; charset=utf-8"
        return json.dumps(self.body).encode(), self.content_type or "application/json"


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body or b"null")
        except ValueError:
            return None

    @property
    def tool(self) -> str | None:
        payload = self.json()
        return payload.get("tool") if isinstance(payload, dict) else None

    @property
    def arguments(self) -> dict[str, Any]:
        payload = self.json()
        args = payload.get("arguments") if isinstance(payload, dict) else None
        return args if isinstance(args, dict) else {}

    @property
    def key(self) -> str:
        if self.method == "POST" and self.path == "/v1/call":
            return f"CALL {self.tool}"
        for prefix in ("/v1/tools/", "/cdn/", "/files/"):
            if self.path.startswith(prefix):
                return f"{self.method} {prefix}"
        return f"{self.method} {self.path.split('?', 1)[0]}"


Route = Union[Answer, Callable[[Request], Answer]]

ACCOUNT = {"id": "usr_scripted", "name": "Scripted", "email": "scripted@example.invalid", "credits": 3000}


class ScriptedGateway(StubServer):
    """``with ScriptedGateway({"GET /v1/auth/me": Answer(body=[1])}) as gw: gw.base_url``."""

    name = "scripted-gateway"

    def __init__(self, routes: dict[str, Route] | None = None, *, job_id: str = "0b84b8f0f0c8") -> None:
        super().__init__()
        self.job_id = job_id
        self.requests: list[Request] = []
        self.routes: dict[str, Route] = self.healthy_routes()
        self.routes.update(routes or {})

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        request = Request(method, path, headers, body)
        with self._lock:
            self.requests.append(request)
        route = self.routes.get(request.key) or self.routes.get(f"{method} *")
        answer = route(request) if callable(route) else route
        if answer is None:
            answer = Answer(404, {"error": "not_found", "message": f"No route {request.key}"})
        payload, content_type = answer.encode()
        handler.send(answer.status, {"Content-Type": content_type, **answer.headers}, payload, drip=answer.drip)

    def healthy_routes(self) -> dict[str, Route]:
        """What a well-behaved gateway answers; each test replaces the part it breaks."""
        return {
            "GET /health": Answer(body={"status": "ok"}),
            "GET /v1/auth/me": Answer(body=dict(ACCOUNT)),
            "GET /v1/tools/": Answer(body={"tool": SUBMIT_TOOL, "pricing": {"mode": "per_call", "cost": 300}}),
            f"CALL {SUBMIT_TOOL}": lambda request: Answer(
                body={"data": {"status": "pending", "job_id": self.job_id, "estimated_seconds": 1},
                      "meta": {"credits_used": 300}}
            ),
            f"CALL {RESULT_TOOL}": lambda request: Answer(body={"data": self.done(request.arguments.get("job_id"))}),
            "GET /cdn/": Answer(body=PNG, content_type="image/png"),
        }

    def done(self, job_id: Any, urls: list[str] | None = None) -> dict[str, Any]:
        urls = urls or [f"{self.base_url}/cdn/{self.job_id}/0.png"]
        return {"status": "done", "job_id": job_id, "items": [{"url": url} for url in urls]}

    def seen(self, key: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.key == key]
