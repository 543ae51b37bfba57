"""What a malformed HTTP/1.x answer raises, under ``http.client``'s names, without importing it.

Why: ``http.client`` imports the ``email`` package (its header type derives from
``email.message.Message``): ~20-28 ms of every short process's start-up on this
project's machines (``python -c "import http.client"`` against the modules it needs
anyway, alternated 25 times), a fifth of ``gptimg generate``'s own overhead and of an
agent call's. The standard-library wire reads answers itself (``gateway.http1``); its
failures keep the standard library's class names because a failure's detail is the
class name (``WireFailure(DROPPED, detail=...)``), and those words are what users and
tests have always seen. The hierarchy is ``http.client``'s: ``RemoteDisconnected`` is
both a ``ConnectionResetError`` and a ``BadStatusLine``.
"""

from __future__ import annotations

#: The longest status, header, chunk-size or trailer line read (``http.client._MAXLINE``).
MAX_LINE = 65536


class HTTPException(Exception):
    """An answer that is not HTTP as this client reads it."""


class InvalidURL(HTTPException):
    """A request target or host that could split the request (a control character or a space)."""


class UnknownProtocol(HTTPException):
    def __init__(self, version: str) -> None:
        super().__init__(version)
        self.version = version


class IncompleteRead(HTTPException):
    """A chunked body that ended, or broke its framing, before its last chunk."""

    def __init__(self, partial: bytes, expected: int | None = None) -> None:
        super().__init__(partial)
        self.partial = partial
        self.expected = expected

    def __repr__(self) -> str:
        more = f", {self.expected} more expected" if self.expected is not None else ""
        return f"{type(self).__name__}({len(self.partial)} bytes read{more})"

    __str__ = object.__str__


class BadStatusLine(HTTPException):
    def __init__(self, line: str) -> None:
        super().__init__(line or repr(line))
        self.line = line or repr(line)


class LineTooLong(HTTPException):
    def __init__(self, line_type: str) -> None:
        super().__init__(f"got more than {MAX_LINE} bytes when reading {line_type}")


class RemoteDisconnected(ConnectionResetError, BadStatusLine):
    """The server closed the connection before the status line's first byte."""

    def __init__(self, *args: object) -> None:
        BadStatusLine.__init__(self, "")
        ConnectionResetError.__init__(self, *args)
