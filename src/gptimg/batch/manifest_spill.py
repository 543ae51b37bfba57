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

A record is the line's fields in ``marshal``'s format, not JSON: the file is this
process's own (unlinked, unreachable by name), written and read by the same
interpreter, and loading it runs no code. A re-run of a finished 5,000-line batch
reads every line back two or three times; a JSON round trip per read was a tenth
of its CPU, ``marshal`` is 3-5 times cheaper (and keeps a lone surrogate or a
newline in a prompt exactly, as the ASCII JSON did).
"""

from __future__ import annotations

import marshal
import os
import tempfile
import threading
from array import array
from collections.abc import Iterator
from typing import IO, Optional

from gptimg.batch.lazy_sequence import LazySequence
from gptimg.batch.manifest import ManifestLine, read_source, validate_lines, with_format

#: Records are written out this many bytes at a time.
_FLUSH_BYTES = 1 << 16
_READ_BYTES = 1 << 16
#: Positioned reads and writes: ``os.pread``/``os.pwrite`` where there are (no shared file position to guard);
#: elsewhere (Windows) a seek and a read or write, one at a time.
_PREAD, _PWRITE = getattr(os, "pread", None), getattr(os, "pwrite", None)
_SEEKING = threading.Lock()
#: marshal's version 2: no back-references, so writing a record builds no table of the objects seen.
MARSHAL_VERSION = 2
_LOADS, _DUMPS = marshal.loads, marshal.dumps
_NEW_TUPLE = tuple.__new__


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
        self._pending += _DUMPS(tuple(line), MARSHAL_VERSION)  # _encode's record, without its frame
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
            self._memory = [_decode(self._record(position)) for position in range(len(self._places))]
            self.close()
            self._pending.clear()
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
        return _decode(self._record(position))

    def _stop(self, position: int) -> int:
        """Where the record at ``position`` ends (the next one's place, or the end of what was appended)."""
        places = self._places
        return places[position + 1] if position + 1 < len(places) else self._end + len(self._pending)

    def _record(self, position: int) -> bytes:
        """The record at ``position``: from the file, or from the pending bytes not written yet."""
        place, stop = self._places[position], self._stop(position)
        if place >= self._end:
            return bytes(self._pending[place - self._end : stop - self._end])
        assert self._file is not None
        return read_at(self._file, stop - place, place)

    def __iter__(self) -> Iterator[ManifestLine]:
        if self._memory is not None:
            return iter(self._memory)
        return self._records()

    def _records(self) -> Iterator[ManifestLine]:
        """Every line, in order, read a block at a time (no shared file position)."""
        file, places, written = self._file, self._places, self._end
        last = len(places) - 1
        block, at = memoryview(b""), 0
        for position, place in enumerate(places):
            stop = places[position + 1] if position < last else written + len(self._pending)
            if stop > written or file is None:  # not written yet
                yield _decode(self._record(position))
                continue
            if stop > at + len(block):
                block, at = memoryview(read_at(file, max(_READ_BYTES, stop - place), place)), place
            yield _decode(block[place - at : stop - at])


def _encode(line: ManifestLine) -> bytes:
    """The line's fields in ``marshal``'s format (``_decode`` reads them back)."""
    return marshal.dumps(tuple(line), MARSHAL_VERSION)


def _decode(record: bytes | memoryview) -> ManifestLine:
    """A ``ManifestLine`` from ``_encode``'s record, already checked when it was spilled: one C call, no ``__new__``."""
    return _NEW_TUPLE(ManifestLine, _LOADS(record))


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
