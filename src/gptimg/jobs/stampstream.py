"""Provenance stamped into a PNG while it downloads, instead of rewriting the file afterwards.

``provenance.stamp_png`` copies the whole finished file to insert its iTXt chunks
after IHDR, and fsyncs the copy: for a 128 MiB image, a second 128 MiB write and
fsync (~0.45 s here, more than the download). The chunks to insert are known
before the first byte arrives, so this writer inserts them as the image streams
by, and checks on the way the very conditions under which ``stamp_png`` would
produce exactly these bytes: a PNG signature, IHDR first, sane chunk headers, no
text chunk carrying one of our own keywords (a gateway must not plant provenance
that would shadow ours), nothing after IEND. When all held, the file on disk *is*
what ``stamp_png`` would have written; when anything did not, ``stamped`` is False
and the caller runs ``stamp_png`` as before (which drops the chunks inserted here,
since they carry our keywords, and inserts them again).
"""

from __future__ import annotations

import struct
from typing import IO

from gptimg.provenance import _TEXT_TYPES, OUR_KEYWORDS, PNG_SIGNATURE

_HEADER = 8  # length (4) + type (4)
_KEYWORD_PEEK = 80  # stamp_png reads at most this much of a text chunk to find its keyword
#: IHDR is 13 bytes; a larger one is held in memory no further than this (stamp_png copies it instead).
_MAX_IHDR = 4096


class StampingWriter:
    """Wraps the download's sink (``write`` / ``seek`` / ``truncate`` / ``flush`` / ``fileno``)."""

    def __init__(self, sink: IO[bytes], inserted: bytes) -> None:
        self._sink = sink
        self._inserted = inserted
        self._reset()

    def _reset(self) -> None:
        self._state = "signature"
        self._held = bytearray()  # bytes kept back until the parser can decide about them
        self._need = len(PNG_SIGNATURE) + _HEADER
        self._skip = 0  # bytes to pass through untouched (the rest of the current chunk)
        self._length = 0

    @property
    def stamped(self) -> bool:
        """True when the whole PNG went by and the chunks were inserted where ``stamp_png`` puts them."""
        return self._state == "end" and not self._skip and not self._held

    def write(self, data: bytes | memoryview) -> int:
        view = memoryview(data)
        while view:
            if self._skip or self._state == "raw":
                count = len(view) if self._state == "raw" else min(self._skip, len(view))
                self._sink.write(view[:count])
                self._skip -= 0 if self._state == "raw" else count
                view = view[count:]
                continue
            if self._state == "end":
                self._give_up()  # bytes after IEND: stamp_png would drop them
                continue
            take = min(self._need - len(self._held), len(view))
            self._held += view[:take]
            view = view[take:]
            if len(self._held) == self._need:
                self._decide()
        return len(data)

    def _decide(self) -> None:
        held = bytes(self._held)
        if self._state == "signature":
            length, kind = struct.unpack(">I4s", held[len(PNG_SIGNATURE):])
            if held[: len(PNG_SIGNATURE)] != PNG_SIGNATURE or kind != b"IHDR" or length > _MAX_IHDR:
                return self._give_up()
            self._state, self._need = "ihdr", len(held) + length + 4
        elif self._state == "ihdr":
            self._pass(held + self._inserted, "header", _HEADER)
        elif self._state == "header":
            self._length, kind = struct.unpack(">I4s", held)
            if self._length > 0x7FFFFFFF or not kind.isalpha():
                return self._give_up()
            if kind in _TEXT_TYPES:
                self._state, self._need = "text", _HEADER + min(self._length, _KEYWORD_PEEK)
                return None
            self._pass(held, "end" if kind == b"IEND" else "header", _HEADER, skip=self._length + 4)
        else:  # "text": the keyword is in
            if held[_HEADER:].split(b"\x00", 1)[0].decode("latin-1") in OUR_KEYWORDS:
                return self._give_up()
            self._pass(held, "header", _HEADER, skip=self._length + 4 - (len(held) - _HEADER))
        return None

    def _pass(self, data: bytes, state: str, need: int, *, skip: int = 0) -> None:
        self._sink.write(data)
        self._held = bytearray()
        self._state, self._need, self._skip = state, need, skip

    def _give_up(self) -> None:
        """Not a PNG this can stamp on the fly: everything from here on goes through as it came."""
        self._sink.write(bytes(self._held))
        self._held = bytearray()
        self._state, self._skip = "raw", 0

    def seek(self, offset: int, whence: int = 0) -> int:
        if offset == 0 and whence == 0:
            self._reset()  # a retried download starts again from its first byte
        return self._sink.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        return self._sink.truncate(size)

    def flush(self) -> None:
        self._sink.flush()

    def finish(self) -> None:
        """Write out anything still held (a PNG cut short): the file must hold every byte that came."""
        if self._held:
            self._give_up()

    def fileno(self) -> int:
        return self._sink.fileno()
