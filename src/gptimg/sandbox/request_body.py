"""Reading a request's body: Content-Length or chunked, bounded, and drained when refused.

Why its own module: the body is read before any routing (so an early 401 or 404
never leaves unread bytes on a keep-alive connection), and the size rules are
the part of the sandbox a hostile client pokes at most: a body over the limit
is read and thrown away up to :data:`MAX_DRAIN_BYTES` so the client sees our
413 rather than a reset, and beyond that the connection is closed. Keeping
that in one place keeps the route modules free of socket details.
"""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from .failures import ApiFailure
from .state import MAX_FILE_BYTES

#: JSON bodies above this are refused before parsing (the arguments limit is 100 KB).
MAX_JSON_BODY = 1024 * 1024
#: Oversized bodies up to this are read and discarded so the client sees our 413, not a reset.
MAX_DRAIN_BYTES = 64 * 1024 * 1024
#: The longest chunk-size or trailer line we read in one go.
_MAX_LINE = 65537


class BodyReading(BaseHTTPRequestHandler):
    """The body-reading half of the sandbox's handler; routes call :meth:`_read_body` or :meth:`_read_fields`."""

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
            return self._read_chunked_body(limit)
        return self._read_sized_body(limit)

    def _read_chunked_body(self, limit: int) -> bytes:
        """All chunks up to ``limit`` kept; past it they are read and dropped, past the drain cap we close."""
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(_MAX_LINE)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self._skip_trailers()
                break
            data = self.rfile.read(size)
            self.rfile.readline(_MAX_LINE)
            total += size
            if total <= limit:
                chunks.append(data)
            elif total > MAX_DRAIN_BYTES:
                self.close_connection = True
                break
        if total > limit:
            raise self._too_large(limit)
        return b"".join(chunks)

    def _skip_trailers(self) -> None:
        while self.rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
            pass

    def _read_sized_body(self, limit: int) -> bytes:
        """A Content-Length body; an oversized one is drained (or the connection closed) before the 413."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            raise ApiFailure(400, "invalid_request", "Content-Length is not a number.") from None
        if length > limit:
            if length > MAX_DRAIN_BYTES:
                self.close_connection = True
            else:
                self._discard(length)
            raise self._too_large(limit)
        return self.rfile.read(length) if length > 0 else b""

    def _discard(self, length: int) -> None:
        remaining = length
        while remaining > 0:
            got = self.rfile.read(min(remaining, 1 << 16))
            if not got:
                break
            remaining -= len(got)

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
