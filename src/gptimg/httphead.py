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


def read_header_block(rfile: BinaryIO, message_class: type = http.client.HTTPMessage) -> http.client.HTTPMessage:
    """The header block up to its blank line, as ``http.client.parse_headers`` would return it.

    Raises :class:`http.client.LineTooLong` or :class:`http.client.HTTPException`
    past the same limits as ``http.client``.
    """
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


def _email_parsed(lines: list[bytes], message_class: type) -> http.client.HTTPMessage:
    import email.parser

    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=message_class).parsestr(text)
