"""Reading a request's head (request line and header block) without the email package.

Why: ``http.server`` hands every header block to ``email.parser``, a general
MIME parser that cost ~50 µs a request — a fifth of the sandbox's on-CPU time
in a batch. The header block is read by ``gptimg.httphead`` (shared with the
client's standard-library wire, which reads answers the same way).

The request-line checks are the standard library's own (same order, same
answers); only the header block's parsing differs.
"""
from __future__ import annotations

import email.parser
import http.client
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler

from gptimg import httphead
from gptimg.http_errors import HTTPException, LineTooLong
from gptimg.httphead import MAX_HEADER_LINE, MAX_HEADERS  # noqa: F401  (re-exported)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO

_MISSING = object()
_COMPAT32 = http.client.HTTPMessage().policy  # email's compat32, every HTTPMessage's policy (loaded with it)


class IndexedMessage(http.client.HTTPMessage):
    """``HTTPMessage`` whose ``get`` is a dict lookup.

    ``email.message.Message.get`` lowercases every header name on every call, and
    ``http.server`` and the sandbox ask a request for several headers: it was ~4 % of
    the CPU when the client read its answers into this type too (63,000 ``get`` calls in
    a 3,000-line batch; cProfile with a thread-CPU clock). The index is built at the first ``get``
    (first value of each name, as ``Message.get`` returns) and dropped by every method
    that changes the headers; a header list whose length changed behind its back
    (``add_header`` appends directly) is indexed again. Values come back through the
    policy's ``header_fetch_parse``, exactly as ``Message.get`` returns them.
    """

    _index: dict[str, tuple[str, str]] | None = None
    _indexed_length = -1

    def get(self, name: str, failobj: object = None) -> object:  # type: ignore[override]
        headers = self._headers  # type: ignore[attr-defined]
        index = self._index
        if index is None or self._indexed_length != len(headers):
            index = {}
            for key, value in headers:
                index.setdefault(key.lower(), (key, value))
            self._index, self._indexed_length = index, len(headers)
        found = index.get(name.lower(), _MISSING)
        if found is _MISSING:
            return failobj
        key, value = found  # type: ignore[misc]
        if type(value) is str and value.isascii() and self.policy is _COMPAT32:
            return value  # what compat32's header_fetch_parse returns for text without surrogates
        return self.policy.header_fetch_parse(key, value)

    def set_raw(self, name: str, value: str) -> None:
        self._index = None
        super().set_raw(name, value)

    def __setitem__(self, name: str, value: object) -> None:
        self._index = None
        super().__setitem__(name, value)

    def __delitem__(self, name: str) -> None:
        self._index = None
        super().__delitem__(name)

    def replace_header(self, _name: str, _value: object) -> None:
        self._index = None
        super().replace_header(_name, _value)


def read_header_block(rfile: BinaryIO, message_class: type[http.client.HTTPMessage] = IndexedMessage
                      ) -> http.client.HTTPMessage:
    """The header block as ``http.client.parse_headers`` would return it (an ``HTTPMessage``).

    Raises ``gptimg.http_errors.LineTooLong`` or ``HTTPException`` past the same limits.
    """

    def plain(pairs: list[tuple[str, str]]) -> http.client.HTTPMessage:
        message = message_class()
        if type(message) is IndexedMessage:
            message._headers.extend(pairs)  # type: ignore[attr-defined]  # what set_raw appends, pair by pair
        else:
            for name, value in pairs:
                message.set_raw(name, value)
        return message

    def odd(text: str) -> http.client.HTTPMessage:
        return email.parser.Parser(_class=message_class).parsestr(text)

    return httphead.read_header_block(rfile, plain, odd)


class RequestHead(BaseHTTPRequestHandler):
    """``parse_request`` with :func:`read_header_block`, and a ``Date`` header formatted once a second."""

    #: Headers looked up by a dict (``IndexedMessage``), not a scan per ``get``.
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
        except LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except HTTPException as err:
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
