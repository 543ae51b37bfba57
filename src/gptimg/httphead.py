"""Reading an HTTP/1.x header block without the email package: one parser for both ends.

Why: ``http.client.parse_headers`` hands every header block to ``email.parser``, a
general MIME parser. It cost ~50 µs a request in the sandbox (a fifth of its
on-CPU time in a batch) and 7-8 % of a batch client's CPU (py-spy ``--gil``,
``gptimg batch`` of 2,000 lines at C=64), where three answers are read per image.
Header lines of the form ``Name: value`` are split here directly into the same
:class:`http.client.HTTPMessage` (``set_raw`` stores exactly what the email parser
would: the value with leading blanks and the line ending removed). A block holding
anything less regular (a folded continuation line, a line without a colon, a name
with characters the email parser would not take as a header, a bare CR inside a
line, which that parser splits on) goes to the email parser as before, so odd
heads are understood exactly as the standard library would understand them.

Used by the sandbox for requests (``sandbox.request_head``) and by the
standard-library wire for answers (``gateway.http1``). The limits are
``http.client``'s own: 65,536 bytes a line, 100 lines.
"""

from __future__ import annotations

import re

from gptimg.http_client import http  # http.client, ssl loaded at the first https connection

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import BinaryIO

#: http.client's limits on one header line and on the number of header lines.
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
_END_OF_HEADERS = (b"\r\n", b"\n", b"")
#: A header name the email parser accepts as such (its ``headerRE``), followed by the colon;
#: compiled at the first header block, not at import.
_PLAIN_HEADER_TEXT = r"[\041-\071\073-\176]+:"
_plain_header: re.Pattern[str] | None = None


_MISSING = object()
_COMPAT32 = http.client.HTTPMessage().policy  # email's compat32, every HTTPMessage's policy (loaded with it)


class IndexedMessage(http.client.HTTPMessage):
    """``HTTPMessage`` whose ``get`` is a dict lookup.

    ``email.message.Message.get`` lowercases every header name on every call, and
    ``http.client`` and the gateway ask an answer for seven headers or so: 63,000
    ``get`` calls and 478,000 ``lower`` calls in a 3,000-line batch, ~4 % of the client's
    CPU (cProfile with a thread-CPU clock). The index is built at the first ``get``
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


def read_header_block(rfile: BinaryIO, message_class: type = IndexedMessage) -> http.client.HTTPMessage:
    """The header block up to its blank line, as ``http.client.parse_headers`` would return it.

    Raises :class:`http.client.LineTooLong` or :class:`http.client.HTTPException`
    past the same limits as ``http.client``.
    """
    message = _buffered_block(rfile, message_class)
    if message is not None:
        return message
    lines: list[bytes] = []
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in _END_OF_HEADERS:
            break
    global _plain_header
    if _plain_header is None:
        _plain_header = re.compile(_PLAIN_HEADER_TEXT)
    plain_header = _plain_header
    message = message_class()
    for raw in lines[:-1]:
        text = raw.decode("iso-8859-1")
        if not plain_header.match(text) or text.startswith("From ") or "\r" in text.rstrip("\r\n"):
            return _email_parsed(lines, message_class)
        name, _, value = text.partition(":")
        message.set_raw(name, value.lstrip(" \t").rstrip("\r\n"))
    return message


#: A block of plain ``Name: value`` lines, each ended by CRLF (the blank line not included).
_PLAIN_BLOCK_TEXT = r"(?:[\041-\071\073-\176]+:[^\r\n]*\r\n)*"
#: Each line's name, and its value without the blanks after the colon (``set_raw``'s arguments).
_PLAIN_LINE_TEXT = r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r\n"
_block_patterns: tuple[re.Pattern[str], re.Pattern[str]] | None = None


def _buffered_block(rfile: BinaryIO, message_class: type) -> http.client.HTTPMessage | None:
    """The header block parsed in one piece when it already sits whole in ``rfile``'s buffer; else None.

    The answer's head usually arrives in one packet, and reading it a line at a time (seven
    ``readline`` calls, a decode, a match and a ``set_raw`` per line) was ~5 % of a batch
    client's CPU (cProfile). Only a block of plain ``Name: value`` lines ended by CRLF, with no
    other CR or LF, under the header-count limit, is taken this way: two regular expressions
    over the block give exactly the pairs the line loop would give. Anything else returns None
    with nothing consumed, and the line loop reads it as before.
    """
    peek = getattr(rfile, "peek", None)
    if peek is None:
        return None
    buffered = peek(MAX_HEADER_LINE)
    end = buffered.find(b"\r\n\r\n")
    if end < 0 or buffered.startswith(b"\r\n"):
        return None
    block = buffered[: end + 2]
    lines = block.count(b"\r\n")
    if lines >= MAX_HEADERS or block.count(b"\r") != lines or block.count(b"\n") != lines:
        return None
    global _block_patterns
    if _block_patterns is None:
        _block_patterns = (re.compile(_PLAIN_BLOCK_TEXT), re.compile(_PLAIN_LINE_TEXT))
    plain_block, plain_line = _block_patterns
    text = block.decode("iso-8859-1")
    if not plain_block.fullmatch(text):
        return None
    pairs = plain_line.findall(text)
    message = message_class()
    if type(message) is IndexedMessage:
        message._headers.extend(pairs)  # type: ignore[attr-defined]  # what set_raw appends, pair by pair
    else:
        for name, value in pairs:
            message.set_raw(name, value)
    rfile.read(end + 4)  # the block and its blank line, from the buffer
    return message


def _email_parsed(lines: list[bytes], message_class: type) -> http.client.HTTPMessage:
    import email.parser

    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=message_class).parsestr(text)
