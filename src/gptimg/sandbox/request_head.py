"""Reading a request's head (request line and header block) without the email package.

Why: ``http.server`` hands every header block to ``email.parser``, a general
MIME parser that cost ~50 µs a request — a fifth of the sandbox's on-CPU time
in a batch. The header block is read by ``gptimg.httphead`` (shared with the
client's standard-library wire, which reads answers the same way).

The request-line checks are the standard library's own (same order, same
answers); only the header block's parsing differs.
"""
from __future__ import annotations

import http.client
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from gptimg.httphead import MAX_HEADER_LINE, MAX_HEADERS, IndexedMessage, read_header_block  # noqa: F401  (re-exported)


class RequestHead(BaseHTTPRequestHandler):
    """``parse_request`` with :func:`read_header_block`, and a ``Date`` header formatted once a second."""

    #: Headers looked up by a dict (``gptimg.httphead.IndexedMessage``), not a scan per ``get``.
    MessageClass = IndexedMessage
    #: (second, formatted): one attribute, so a reader never pairs one second with another's text.
    _date: tuple[int, str] = (-1, "")

    def parse_request(self) -> bool:
        """As ``BaseHTTPRequestHandler.parse_request``: True, or False once an error answer is sent."""
        self.command = None  # set in case of an error on the first line
        self.request_version = self.default_request_version
        self.close_connection = True
        self.requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = self.requestline.split()
        if not words:
            return False
        if len(words) >= 3 and not self._accept_version(words[-1]):
            return False
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({self.requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        # gh-87389: '//path' would read as a scheme-relative URL in a redirect; keep one slash.
        self.command, self.path = command, "/" + path.lstrip("/") if path.startswith("//") else path
        try:
            self.headers = read_header_block(self.rfile, self.MessageClass)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        return self._apply_connection_and_expect()

    def _accept_version(self, version: str) -> bool:
        """Check ``HTTP/x.y`` and decide keep-alive as the standard library does; False once refused."""
        try:
            if not version.startswith("HTTP/"):
                raise ValueError
            number = version.split("/", 1)[1]
            parts = number.split(".")
            if len(parts) != 2 or any(not p.isdigit() or len(p) > 10 for p in parts):
                raise ValueError
            major, minor = int(parts[0]), int(parts[1])
        except (ValueError, IndexError):
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
            return False
        if (major, minor) >= (1, 1) and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if (major, minor) >= (2, 0):
            self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"Invalid HTTP version ({number})")
            return False
        self.request_version = version
        return True

    def _apply_connection_and_expect(self) -> bool:
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if expect == "100-continue" and self.protocol_version >= "HTTP/1.1" and self.request_version >= "HTTP/1.1":
            return bool(self.handle_expect_100())
        return True

    def date_time_string(self, timestamp: float | None = None) -> str:
        """The ``Date`` header; the current one is formatted once a second, not once an answer."""
        if timestamp is not None:
            return super().date_time_string(timestamp)
        now = int(time.time())
        second, text = RequestHead._date
        if second != now:
            text = super().date_time_string(now)
            RequestHead._date = (now, text)
        return text
