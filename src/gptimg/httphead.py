"""Reading an HTTP/1.x header block without the email package: one parser for both ends.

Why: ``http.client.parse_headers`` hands every header block to ``email.parser``, a
general MIME parser. It cost ~50 µs a request in the sandbox (a fifth of its
on-CPU time in a batch) and 7-8 % of a batch client's CPU (py-spy ``--gil``,
``gptimg batch`` of 2,000 lines at C=64), where three answers are read per image.
Header lines of the form ``Name: value`` are split here directly into the pairs the
email parser would store (``set_raw``'s arguments: the value with leading blanks and
the line ending removed). A block holding anything less regular (a folded
continuation line, a line without a colon, a name with characters the email parser
would not take as a header, a bare CR inside a line, which that parser splits on) is
handed, as text, to the caller's ``odd`` reader, which gives it to the email parser,
so odd heads are understood exactly as the standard library would understand them.

Used by the sandbox for requests (``sandbox.request_head``, whose header type is
``http.client``'s) and by the standard-library wire for answers (``gateway.http1``,
which never imports ``http.client`` or ``email`` for a regular head). The limits are
``http.client``'s own: 65,536 bytes a line, 100 lines; past them this raises
``gptimg.http_errors.LineTooLong`` or ``HTTPException``.
"""

from __future__ import annotations

import re

from gptimg.http_errors import MAX_LINE, HTTPException, LineTooLong

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import BinaryIO, Callable, TypeVar

    Head = TypeVar("Head")

#: http.client's limits on one header line and on the number of header lines.
MAX_HEADER_LINE = MAX_LINE
MAX_HEADERS = 100
_END_OF_HEADERS = (b"\r\n", b"\n", b"")
#: A header name the email parser accepts as such (its ``headerRE``), followed by the colon;
#: compiled at the first header block, not at import.
_PLAIN_HEADER_TEXT = r"[\041-\071\073-\176]+:"
_plain_header: re.Pattern[str] | None = None


def read_header_block(
    rfile: BinaryIO, plain: Callable[[list[tuple[str, str]]], Head], odd: Callable[[str], Head]
) -> Head:
    """The header block up to its blank line: ``plain(pairs)`` for regular lines, else ``odd(text)``.

    ``pairs`` are (name, value) as the email parser stores them; ``text`` is the whole
    block (its blank line included) decoded as ISO-8859-1, for ``email.parser``.
    """
    pairs = _buffered_block(rfile)
    if pairs is not None:
        return plain(pairs)
    lines: list[bytes] = []
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in _END_OF_HEADERS:
            break
    global _plain_header
    if _plain_header is None:
        _plain_header = re.compile(_PLAIN_HEADER_TEXT)
    plain_header = _plain_header
    pairs = []
    for raw in lines[:-1]:
        text = raw.decode("iso-8859-1")
        if not plain_header.match(text) or text.startswith("From ") or "\r" in text.rstrip("\r\n"):
            return odd(b"".join(lines).decode("iso-8859-1"))
        name, _, value = text.partition(":")
        pairs.append((name, value.lstrip(" \t").rstrip("\r\n")))
    return plain(pairs)


#: A block of plain ``Name: value`` lines, each ended by CRLF (the blank line not included).
_PLAIN_BLOCK_TEXT = r"(?:[\041-\071\073-\176]+:[^\r\n]*\r\n)*"
#: Each line's name, and its value without the blanks after the colon (``set_raw``'s arguments).
_PLAIN_LINE_TEXT = r"([\041-\071\073-\176]+):[ \t]*([^\r\n]*)\r\n"
_block_patterns: tuple[re.Pattern[str], re.Pattern[str]] | None = None


def _buffered_block(rfile: BinaryIO) -> list[tuple[str, str]] | None:
    """The header block's pairs in one piece when it already sits whole in ``rfile``'s buffer; else None.

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
    pairs: list[tuple[str, str]] = plain_line.findall(text)
    rfile.read(end + 4)  # the block and its blank line, from the buffer
    return pairs
