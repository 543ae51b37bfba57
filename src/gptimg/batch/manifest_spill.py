"""A validated manifest kept on disk, not in memory: what a batch runs, read once from the user's file.

``spill_manifest`` reads the manifest once, checks each line as it comes
(``manifest.validate_lines``) and writes each valid line as one JSON record to an
unlinked temporary file only this process can reach. The run then reads its lines
from there, never from the user's file again: an edit made to the manifest after
the check (or while the batch runs) cannot put an unchecked line in front of the
gateway, and a bad file is still refused whole before anything is planned or paid.

A 5,000-line batch held every ``ManifestLine`` (its dict and strings, ~300 bytes a
line, and about as much again in the allocator's fragmentation) from the check to
the end. Now a line costs 16 bytes in memory (its record's place and its line
number, in two ``array``s) and is rebuilt when the planner or a worker reaches it.
If the temporary file cannot be written, the lines are kept in memory instead.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from array import array
from collections.abc import Iterator
from typing import IO, Any, Optional

from gptimg.batch.lazy_sequence import LazySequence
from gptimg.batch.manifest import ManifestLine, read_source, validate_lines, with_format

#: Records are written out this many bytes at a time.
_FLUSH_BYTES = 1 << 16
_READ_BYTES = 1 << 16
#: One encoder and decoder for every record: ``json.dumps`` with separators builds a new encoder per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
_DECODER = json.JSONDecoder()
_FIELDS = ("line", "key", "prompt", "size", "n", "style", "refs", "name")
#: Positioned reads and writes: ``os.pread``/``os.pwrite`` where there are (no shared file position to guard);
#: elsewhere (Windows) a seek and a read or write, one at a time.
_PREAD, _PWRITE = getattr(os, "pread", None), getattr(os, "pwrite", None)
_SEEKING = threading.Lock()


def read_at(file: IO[bytes], size: int, offset: int) -> bytes:
    """Up to ``size`` bytes of ``file`` from ``offset``."""
    if _PREAD is not None:
        return _PREAD(file.fileno(), size, offset)
    with _SEEKING:
        file.seek(offset)
        return file.read(size)


def write_at(file: IO[bytes], data: bytes | bytearray, offset: int) -> None:
    """All of ``data`` into ``file`` at ``offset``."""
    if _PWRITE is None:
        with _SEEKING:
            file.seek(offset)
            file.write(data)
            file.flush()
        return
    written = 0
    while written < len(data):
        written += _PWRITE(file.fileno(), data[written:], offset + written)


class SpilledManifest(LazySequence[ManifestLine]):
    """Checked lines in manifest order, on disk; ``numbers`` are their line numbers (ascending)."""

    def __init__(self) -> None:
        self.numbers = array("q")
        self._places = array("q")
        self._pending = bytearray()
        self._end = 0
        self._lock = threading.Lock()
        self._memory: Optional[list[ManifestLine]] = None
        self._file: Optional[IO[bytes]] = None
        try:
            self._file = tempfile.TemporaryFile(prefix="gptimg-manifest-")
        except OSError:
            self._memory = []

    def append(self, line: ManifestLine) -> None:
        self.numbers.append(line.line)
        if self._memory is not None:
            self._memory.append(line)
            return
        self._places.append(self._end + len(self._pending))
        self._pending += _encode(line)
        if len(self._pending) >= _FLUSH_BYTES:
            self.seal()

    def seal(self) -> None:
        """Write out what is pending; a disk that will not take it turns the manifest into an in-memory list."""
        if self._memory is not None or not self._pending:
            return
        assert self._file is not None
        try:
            write_at(self._file, self._pending, self._end)
        except OSError:
            self._memory = [*self._records(0, self._end), *self._decode_all(bytes(self._pending))]
            self.close()
            return
        self._end += len(self._pending)
        self._pending.clear()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __len__(self) -> int:
        return len(self.numbers)

    def _item(self, position: int) -> ManifestLine:
        if self._memory is not None:
            return self._memory[position]
        place = self._places[position]
        end = self._places[position + 1] if position + 1 < len(self._places) else self._end
        assert self._file is not None
        return _decode(read_at(self._file, end - place, place))

    def __iter__(self) -> Iterator[ManifestLine]:
        if self._memory is not None:
            return iter(self._memory)
        return self._records(0, self._end)

    def _records(self, start: int, end: int) -> Iterator[ManifestLine]:
        """The lines written between ``start`` and ``end``, read a block at a time (no shared file position)."""
        file = self._file
        if file is None:
            return
        carry = b""
        while start < end:
            block = read_at(file, min(_READ_BYTES, end - start), start)
            if not block:
                return
            start += len(block)
            *whole, carry = (carry + block).split(b"\n")
            for record in whole:
                yield _decode(record)

    @staticmethod
    def _decode_all(data: bytes) -> list[ManifestLine]:
        return [_decode(record) for record in data.split(b"\n") if record]


def _encode(line: ManifestLine) -> bytes:
    # ASCII JSON: a lone surrogate or a newline in a prompt comes back exactly as it went in.
    return encode_line(line).encode("ascii") + b"\n"


def encode_line(line: ManifestLine) -> str:
    """The line's fields as one ASCII JSON array (``line_from_fields`` reads it back)."""
    return _ENCODER.encode([line.line, line.key, line.prompt, line.size, line.n, line.style, list(line.refs),
                            line.name])


def _decode(record: bytes) -> ManifestLine:
    return line_from_fields(_DECODER.decode(record.decode("ascii")))


def line_from_fields(fields: list[Any]) -> ManifestLine:
    """A ``ManifestLine`` from ``encode_line``'s fields, already checked when they were spilled.

    Filled in directly rather than through the frozen dataclass's ``__init__`` (a ``setattr`` per
    field): a re-run of a finished 5,000-line batch rebuilds every line two or three times.
    """
    line = object.__new__(ManifestLine)
    values = dict(zip(_FIELDS, fields))
    values["refs"] = tuple(values["refs"])
    line.__dict__.update(values)
    return line


def spill_manifest(source: str, *, fmt: str | None = None) -> SpilledManifest:
    """Read ``source`` (a path, or ``-`` for stdin) once, validate every line, and keep the valid ones on disk.

    Raises ``ManifestError`` for a bad manifest, as ``load_manifest`` does; nothing is kept then.
    """
    chunks, base = read_source(source)
    fmt, chunks = with_format(source, fmt, chunks)
    spilled = SpilledManifest()
    try:
        validate_lines(chunks, fmt=fmt, base=base, keep=spilled.append)
        spilled.seal()
    except BaseException:
        spilled.close()
        raise
    return spilled
