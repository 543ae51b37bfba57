"""Showing text that came from outside without letting it drive the terminal.

A gateway's error message, a job status, an account name, a device code or a
manifest prompt may carry bytes a terminal obeys rather than shows: ESC and CSI
sequences (clear the screen, move the cursor), OSC 52 (write the clipboard),
OSC 8 (a hidden link), C1 controls (the 8-bit forms of the same) and the
Unicode bidi overrides that make text read differently from what it is. Every
such character is shown as a visible escape (``\\x1b``, ``\\u202e``) instead.

``neutralise`` is for human output; ``json_text`` is for ``--json``: there
``json.dumps`` already escapes C0 controls, and this escapes the rest so the
document stays valid JSON holding the same data.
"""

from __future__ import annotations

import re

#: C0 controls except tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates and marks,
#: and the Unicode line/paragraph separators (a terminal may break the line there).
_UNSAFE_CHARS = (
    "\x00-\x08\x0b-\x1f\x7f-\x9f"
    "\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
)
_UNSAFE_OR_NEWLINE_CHARS = _UNSAFE_CHARS + "\t\n"
#: The same two classes within ASCII, for ASCII text (nearly all of it), where they match exactly the same
#: characters: compiling a class that stays below U+0100 is ~0.2 M instructions instead of 2-3 M.
_ASCII_UNSAFE_CHARS = "\x00-\x08\x0b-\x1f\x7f"
_ASCII_UNSAFE_OR_NEWLINE_CHARS = _ASCII_UNSAFE_CHARS + "\t\n"
#: What json.dumps(ensure_ascii=False) leaves raw that a terminal may obey.
_JSON_UNSAFE_CHARS = "\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"

_compiled: dict[str, re.Pattern[str]] = {}


def _pattern(chars: str) -> re.Pattern[str]:
    """``[chars]``, compiled on first use, once.

    A character class reaching past U+00FF costs ``re`` 2-3 M instructions to compile (it
    builds a 64 K-entry map in Python): the three here were 8 M at every start of both CLIs,
    a few percent of an agent call, whether or not any text needed them (callgrind).
    """
    pattern = _compiled.get(chars)
    if pattern is None:
        pattern = _compiled[chars] = re.compile(f"[{chars}]")
    return pattern


def _visible(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    if char == "\n":
        return "\\n"
    if char == "\t":
        return "\\t"
    if char == "\r":
        return "\\r"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def neutralise(text: str, *, one_line: bool = False) -> str:
    """``text`` with every character a terminal would obey shown as an escape.

    ``one_line`` escapes newlines and tabs too, for a value that must not start a
    line of its own (a status on the progress line, a job id, a name in a table).
    """
    pattern = _unsafe(text, one_line)
    return pattern.sub(_visible, text) if pattern.search(text) else text


def has_unsafe(text: str) -> bool:
    return _unsafe(text, False).search(text) is not None


def _unsafe(text: str, one_line: bool) -> re.Pattern[str]:
    """The class of characters to escape in ``text``: its ASCII part when ``text`` is ASCII."""
    if text.isascii():
        return _pattern(_ASCII_UNSAFE_OR_NEWLINE_CHARS if one_line else _ASCII_UNSAFE_CHARS)
    return _pattern(_UNSAFE_OR_NEWLINE_CHARS if one_line else _UNSAFE_CHARS)


def json_text(text: str) -> str:
    """A ``json.dumps(..., ensure_ascii=False)`` result with C1 and bidi characters as ``\\uXXXX``.

    Those characters can only occur inside JSON strings, where ``\\uXXXX`` means
    the same character, so the document parses to exactly the same data.
    """
    if text.isascii() and "\x7f" not in text:
        return text  # DEL is the only ASCII character json.dumps leaves raw that a terminal obeys
    return _pattern(_JSON_UNSAFE_CHARS).sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)
