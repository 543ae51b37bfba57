"""HTTP/1.1 framing for the standard-library wire: a request written in one piece, an answer's head read
without the email package.

Why: ``HTTPConnection.request`` validates and buffers each header through
``putheader``, then sends the head and the body in two ``send`` calls (two
system calls, each a poll first on a socket with a timeout, each a GIL hand-off
among a batch's 64 threads), and ``getresponse`` parses the answer's head with
``email.parser``. Those were ~20 % of a batch client's CPU (py-spy ``--gil``,
2,000 lines at C=64; three requests per image). ``http.client`` still opens the
connection (TCP, TLS, a proxy's CONNECT tunnel) and reads the status line and
the body; only the head on the way out and the header block on the way in are
ours, with its checks: a request target or header that could split the request
(CR, LF, other controls) is refused before anything is written, and the answer's
header block has ``http.client``'s limits (``gptimg.httphead``).
"""

from __future__ import annotations

import re

from gptimg.http_client import http  # http.client, ssl loaded at the first https connection
from gptimg.httphead import read_header_block

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
    raises ``http.client.InvalidURL`` or ``ValueError`` naming the header, never its value
    (the ``Authorization`` value is the user's key).
    """
    bad_target, header_name, bad_value = _checks()
    if bad_target.search(target) or bad_target.search(host):
        raise http.client.InvalidURL("The request target or host contains a control character or a space.")
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


class BodyResponse(http.client.HTTPResponse):
    """``HTTPResponse`` with its header block read by ``gptimg.httphead``, plus ``readinto1``."""

    def begin(self) -> None:
        """``HTTPResponse.begin`` (identical in 3.9-3.13) with ``read_header_block`` for ``parse_headers``."""
        if self.headers is not None:
            return
        while True:  # skip any 100 Continue, head and all
            version, status, reason = self._read_status()  # type: ignore[attr-defined]
            if status != http.client.CONTINUE:
                break
            read_header_block(self.fp)
        self.code = self.status = status
        self.reason = reason.strip()
        if version in ("HTTP/1.0", "HTTP/0.9"):
            self.version = 10
        elif version.startswith("HTTP/1."):
            self.version = 11
        else:
            raise http.client.UnknownProtocol(version)
        self.headers = self.msg = read_header_block(self.fp)
        transfer_encoding = self.headers.get("transfer-encoding")
        self.chunked = bool(transfer_encoding and transfer_encoding.lower() == "chunked")
        if self.chunked:
            self.chunk_left = None
        self.will_close = self._check_close()  # type: ignore[attr-defined]
        self.length = _body_length(self.headers.get("content-length"), self.chunked)
        if status in (http.client.NO_CONTENT, http.client.NOT_MODIFIED) or 100 <= status < 200 \
                or self._method == "HEAD":  # type: ignore[attr-defined]
            self.length = 0
        if not self.will_close and not self.chunked and self.length is None:
            self.will_close = True

    def readinto1(self, buffer: memoryview) -> int:
        """Up to ``len(buffer)`` bytes of the body as soon as any arrive (0 at its end), no copy.

        ``readinto`` would loop until the buffer is full, so a body dribbling in a byte a
        second would never reach the caller's deadline check; chunked bodies go through
        ``read1`` (http.client decodes the framing).
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
            self._close_conn()  # type: ignore[attr-defined]
        else:
            self.length -= count
        return count


def _body_length(value: str | None, chunked: bool) -> int | None:
    """``Content-Length`` as ``http.client`` takes it: ignored when chunked, not a number or negative."""
    if not value or chunked:
        return None
    try:
        length = int(value)
    except ValueError:
        return None
    return length if length >= 0 else None
