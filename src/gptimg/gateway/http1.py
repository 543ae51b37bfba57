"""HTTP/1.1 framing for the standard-library wire: a request written in one piece, an answer read as
``http.client`` reads it, without importing ``http.client`` or the email package.

Why: ``HTTPConnection.request`` validates and buffers each header through
``putheader``, then sends the head and the body in two ``send`` calls (two
system calls, each a poll first on a socket with a timeout, each a GIL hand-off
among a batch's 64 threads), and ``getresponse`` parses the answer's head with
``email.parser``. Those were ~20 % of a batch client's CPU (py-spy ``--gil``,
2,000 lines at C=64; three requests per image). And importing ``http.client``
(which imports ``email``) was 20-28 ms of every short process's start-up
(``gptimg.http_errors``). So the request head, the status line, the header block
and the body's framing (length, chunks, or read to the close) are read here, each
the way ``http.client`` 3.11 reads it, with its limits and its exceptions' names
(``gptimg.http_errors``): tests/reliability/test_wire_heads.py holds both to the
same answers. A request target or header that could split the request (CR, LF,
other controls) is refused before anything is written.
"""

from __future__ import annotations

import re

from gptimg.http_errors import (
    MAX_LINE,
    BadStatusLine,
    IncompleteRead,
    InvalidURL,
    LineTooLong,
    RemoteDisconnected,
    UnknownProtocol,
)
from gptimg.httphead import read_header_block

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    import socket

#: What ``http.client`` refuses in a request target (``_contains_disallowed_url_pchar_re``), the header
#: names it accepts (``_is_legal_header_name``) and the values it refuses (``_is_illegal_header_value``);
#: compiled at the first request, not at import (the agent CLI's start-up is counted).
_BAD_TARGET_TEXT = "[\x00-\x20\x7f]"
_HEADER_NAME_TEXT = r"[^:\s][^:\r\n]*"
_BAD_VALUE_TEXT = r"\n(?![ \t])|\r(?![ \t\n])"
_patterns: tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]] | None = None


def _checks() -> tuple[re.Pattern[str], re.Pattern[str], re.Pattern[str]]:
    global _patterns
    if _patterns is None:
        _patterns = (re.compile(_BAD_TARGET_TEXT), re.compile(_HEADER_NAME_TEXT), re.compile(_BAD_VALUE_TEXT))
    return _patterns
_METHODS_WITH_BODY = frozenset({"PATCH", "POST", "PUT"})
#: Header (name, value) pairs that passed the checks, with their line: a client sends the same few
#: headers on every request, and checking them each time was ~2 % of a batch client's CPU (cProfile).
_checked_lines: dict[tuple[str, str], str] = {}
MAX_CHECKED_LINES = 256
#: Bodies up to this size go out in the same ``send`` as the head (one copy, one system call).
JOIN_BODY_BYTES = 64 * 1024


def host_header(host: str, port: int | None, default_port: int) -> str:
    """``Host`` as ``http.client`` writes it: IDNA only for a non-ASCII name, brackets for IPv6, no default port."""
    try:
        host.encode("ascii")
        name = host
    except UnicodeEncodeError:
        name = host.encode("idna").decode("ascii")
    if ":" in name:
        name = f"[{name}]"
    return name if port is None or port == default_port else f"{name}:{port}"


def request_bytes(method: str, target: str, host: str, headers: dict[str, str], body: bytes | None) -> bytes:
    """The request head (and a small body) as ``HTTPConnection.request`` would send it.

    Same order (``Host``, ``Content-Length``, then ``headers``), same checks; a refusal
    raises ``InvalidURL`` or ``ValueError`` naming the header, never its value
    (the ``Authorization`` value is the user's key).
    """
    bad_target, header_name, bad_value = _checks()
    if bad_target.search(target) or bad_target.search(host):
        raise InvalidURL("The request target or host contains a control character or a space.")
    names = {name.lower() for name in headers}
    request_line = f"{method} {target} HTTP/1.1\r\n".encode("ascii")  # as http.client: a non-ASCII target raises
    lines = []
    if "host" not in names:
        lines.append(f"Host: {host}")
    if "content-length" not in names and (body is not None or method.upper() in _METHODS_WITH_BODY):
        lines.append(f"Content-Length: {0 if body is None else len(body)}")
    checked = _checked_lines
    for pair in headers.items():
        line = checked.get(pair)
        if line is None:
            name, value = pair
            if not header_name.fullmatch(name):
                raise ValueError(f"Invalid header name {name!r}")
            if bad_value.search(value):
                raise ValueError(f"Invalid value for the header {name!r}")
            line = f"{name}: {value}"
            if len(checked) >= MAX_CHECKED_LINES:
                checked.clear()
            checked[pair] = line
        lines.append(line)
    lines.append("\r\n")
    try:
        head = request_line + "\r\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:  # its ``object`` would be every header, the key's among them
        raise ValueError("A request header is not Latin-1 text.") from None
    return head + body if body is not None and len(body) <= JOIN_BODY_BYTES else head


class Headers:
    """An answer's header fields in their order; ``get`` is case-insensitive and gives the first value.

    What ``http.client``'s ``HTTPMessage.get`` answered (``email.message.Message.get``),
    from a dict built at the first ``get``: an answer is asked for seven headers or so.
    """

    __slots__ = ("_pairs", "_index")

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs
        self._index: dict[str, str] | None = None

    def get(self, name: str, default: str | None = None) -> str | None:
        index = self._index
        if index is None:  # reversed: the first of a repeated name wins, as in ``Message.get``
            index = self._index = {key.lower(): value for key, value in reversed(self._pairs)}
        value = index.get(name)  # every caller here asks in lower case: no ``lower()`` a call
        if value is None:
            value = index.get(name.lower(), default)
        return value

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


def _odd_headers(text: str) -> Headers:
    """A header block that is not plain ``Name: value`` lines, read by the email parser as
    ``http.client`` reads it; the email package is imported only for such a head."""
    import email.parser

    return Headers(email.parser.Parser().parsestr(text).items())


#: Answers that never have a body, whatever their head says (with any answer to HEAD).
_NO_BODY_STATUSES = frozenset({204, 304})


class BodyResponse:
    """One answer read off a connection's socket, as ``http.client.HTTPResponse`` (3.11) reads it:
    status line, header block, then the body by its framing (chunked, a length, or up to the close)."""

    def __init__(self, sock: socket.socket, method: str) -> None:
        self.fp = sock.makefile("rb")
        self._method = method
        self.headers: Headers | None = None
        self.status = 0
        self.reason = ""
        self.version = 11
        self.chunked = False
        self.chunk_left: int | None = None
        self.length: int | None = None
        self.will_close = True

    def read_status(self) -> tuple[str, int, str]:
        """The status line's (version, status, reason), refused as ``http.client`` refuses it."""
        line = str(self.fp.readline(MAX_LINE + 1), "iso-8859-1")
        if len(line) > MAX_LINE:
            raise LineTooLong("status line")
        if not line:
            raise RemoteDisconnected("Remote end closed connection without response")
        words = line.split(None, 2)
        version = words[0] if len(words) >= 2 else ""
        if not version.startswith("HTTP/"):
            self._close_conn()
            raise BadStatusLine(line)
        try:
            status = int(words[1])
        except ValueError:
            raise BadStatusLine(line) from None
        if not 100 <= status <= 999:
            raise BadStatusLine(line)
        return version, status, words[2] if len(words) > 2 else ""

    def begin(self) -> None:
        """Read the status line (skipping any 1xx Continue, head and all) and the header block."""
        while True:
            version, status, reason = self.read_status()
            if status != 100:
                break
            read_header_block(self.fp, Headers, _odd_headers)
        self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise UnknownProtocol(version)
        self.headers = headers = read_header_block(self.fp, Headers, _odd_headers)
        transfer_encoding = headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        self.will_close = self._check_close(headers)
        self.length = _body_length(headers.get("content-length"), self.chunked)
        if status in _NO_BODY_STATUSES or 100 <= status < 200 or self._method == "HEAD":
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True

    def _check_close(self, headers: Headers) -> bool:
        """Whether the server will close the connection after this answer (``HTTPResponse._check_close``)."""
        connection = headers.get("connection")
        if self.version == 11:
            return bool(connection and "close" in connection.lower())
        if headers.get("keep-alive") or (connection and "keep-alive" in connection.lower()):
            return False
        proxy_connection = headers.get("proxy-connection")
        return not (proxy_connection and "keep-alive" in proxy_connection.lower())

    def read1(self, n: int = -1) -> bytes:
        """Up to ``n`` body bytes with at most one socket read (more only to step over chunk framing)."""
        if self.fp is None or self._method == "HEAD":
            return b""
        if self.chunked:
            return self._read1_chunked(n)
        if self.length is not None and (n < 0 or n > self.length):
            n = self.length
        result = self.fp.read1(n)
        if not result and n:
            self._close_conn()
        elif self.length is not None:
            self.length -= len(result)
        return result

    def readinto1(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` bytes of the body as soon as any arrive (0 at its end), no copy.

        ``readinto`` would loop until the buffer is full, so a body dribbling in a byte a
        second would never reach the caller's deadline check; chunked bodies go through
        ``read1``.
        """
        if self.fp is None or self.length == 0:
            return 0
        if self.chunked or self.length is None:
            data = self.read1(len(buffer))
            buffer[: len(data)] = data
            return len(data)
        if len(buffer) > self.length:
            buffer = buffer[: self.length]
        count = self.fp.readinto1(buffer)
        if not count:
            self._close_conn()
        else:
            self.length -= count
        return count

    def _read1_chunked(self, n: int) -> bytes:
        chunk_left = self._get_chunk_left()
        if chunk_left is None or n == 0:
            return b""
        if not 0 <= n <= chunk_left:
            n = chunk_left
        assert self.fp is not None
        read = self.fp.read1(n)
        self.chunk_left = chunk_left - len(read)
        if not read:
            raise IncompleteRead(b"")
        return read

    def _get_chunk_left(self) -> int | None:
        """Bytes left in the current chunk, reading the next chunk's size when at an end; None after the last."""
        chunk_left = self.chunk_left
        if not chunk_left:  # 0: at the end of a chunk; None: before the first
            if chunk_left is not None:
                self._safe_read(2)  # the CRLF after a chunk's data
            try:
                chunk_left = self._read_next_chunk_size()
            except ValueError:
                raise IncompleteRead(b"") from None
            if chunk_left == 0:
                self._discard_trailer()
                self._close_conn()
                chunk_left = None
            self.chunk_left = chunk_left
        return chunk_left

    def _read_next_chunk_size(self) -> int:
        assert self.fp is not None
        line = self.fp.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise LineTooLong("chunk size")
        size = line.split(b";", 1)[0]
        try:
            return int(size, 16)
        except ValueError:
            self._close_conn()  # framing lost: the connection cannot serve again
            raise

    def _discard_trailer(self) -> None:
        assert self.fp is not None
        while True:
            line = self.fp.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise LineTooLong("trailer line")
            if line in (b"\r\n", b"\n", b""):
                return

    def _safe_read(self, amount: int) -> bytes:
        assert self.fp is not None
        data = self.fp.read(amount)
        if len(data) < amount:
            raise IncompleteRead(data, amount - len(data))
        return data

    def isclosed(self) -> bool:
        return self.fp is None

    def _close_conn(self) -> None:
        fp, self.fp = self.fp, None
        if fp is not None:
            fp.close()

    def close(self) -> None:
        self._close_conn()


def _body_length(value: str | None, chunked: bool) -> int | None:
    """``Content-Length`` as ``http.client`` takes it: ignored when chunked, not a number or negative."""
    if not value or chunked:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None
