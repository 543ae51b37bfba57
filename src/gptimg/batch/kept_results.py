"""Each line's result as a run keeps it: spilled to a private temporary file, read back in manifest order.

A 5,000-line batch kept a tuple (status, job id, path, credits) per finished line
until the summary and the contact sheet were made at the end: ~300 bytes a line
in small blocks, and about as much again in the allocator's fragmentation, which
made the run's peak memory grow with its size. Now a finished line's outcome
(status, job id, files, credits) is one record in an unlinked temporary file,
and what stays in memory per line is its record's place there: 8 bytes in an
``array``. Read back, each is paired with its line from the manifest's own copy.
A record is its length (4 bytes) and the outcome in ``marshal``'s format, as the
spilled manifest's (``manifest_spill``): this process's own file, no code runs
on load, and a third of the cost of the JSON round trip it replaced. The outcome
is followed by what the contact sheet shows of the line (``SheetRow``), so the
sheet never reads the manifest's copy back.

A result that needs a word in the summary (failed, skipped, unknown, or carrying a
hint) is still kept whole, in memory: the command annotates that very object while
the run goes on (``result.hint``), and the summary lists it; such lines are what a
person has to look at, not the bulk of a batch. If the temporary file cannot be
written (a full ``/tmp``), results are kept in memory as before: nothing is lost.
"""

from __future__ import annotations

import marshal
import tempfile
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from typing import IO, Any, Optional

from gptimg.batch.manifest import ManifestLine
from gptimg.batch.manifest_spill import MARSHAL_VERSION, read_at, write_at
from gptimg.batch.report import SUCCESS_STATUSES, LineResult

#: What the contact sheet reads of a line's result: its line number, name, style, size and prompt, job id and files.
SheetRow = tuple[int, Optional[str], Optional[str], str, str, Optional[str], list[str]]
#: Marks a line with no result yet in the offsets array.
_NONE = -1
#: Marks a line whose result is kept in memory (``_whole``).
_WHOLE = -2
#: Records are written out this many bytes at a time (a write per line was a tenth of a re-run).
_FLUSH_BYTES = 1 << 16
#: Read back this many bytes at a time: the block read last is held while the results are read in order,
#: and 64 KiB of it put the contact sheet's peak (for 2,000 lines against 200) within 2 % of its bound.
_READ_BYTES = 1 << 14
#: Each record starts with its length, in this many bytes (little-endian).
_LENGTH_BYTES = 4


class KeptResults:
    """Every line's result so far; iterating yields them in manifest order, again and again.

    ``lines`` in manifest order (ascending line numbers), as the manifest reader makes them.
    """

    def __init__(self, lines: Sequence[ManifestLine]) -> None:
        numbers = getattr(lines, "numbers", None)  # a spilled manifest's, ascending; a list is sorted here
        if numbers is None:
            lines = sorted(lines, key=lambda line: line.line)
            numbers = array("q", (line.line for line in lines))
        self._lines = lines
        self._numbers = numbers
        self._lock = threading.Lock()  # a download thread may still report while an interrupted run reads
        self._block = (b"", 0)  # the last block read from the file, and where it starts
        #: Where the line after the last one kept is: a re-run keeps its finished lines in manifest order.
        self._next = 0
        self._places = array("q", [_NONE]) * len(self._numbers)
        self._whole: dict[int, LineResult] = {}
        self._file: Optional[IO[bytes]] = None
        self._end = 0
        self._pending = bytearray()
        self._spill_failed = False

    def keep(self, result: LineResult) -> None:
        number, numbers, position = result.line.line, self._numbers, self._next
        if not (position < len(numbers) and numbers[position] == number):  # not the line after the last one
            position = bisect_left(numbers, number)
        self._next = position + 1
        plain = (result.status in SUCCESS_STATUSES and result.error is None and result.code is None
                 and not result.hint)
        with self._lock:
            if not (plain and self._spill(position, result)):
                self._whole[position] = result
                self._places[position] = _WHOLE

    def unsettled(self) -> list[LineResult]:
        """The results that are not a success, in manifest order (all kept in memory: no file is read)."""
        return [self._whole[p] for p in sorted(self._whole) if not self._whole[p].succeeded]

    def __iter__(self) -> Iterator[LineResult]:
        """Each line's result, its line read back from the manifest's own copy (read in order, a block at a time)."""
        places, whole, lock, loads, record = self._places, self._whole, self._lock, marshal.loads, self._record
        if places.count(_NONE) == len(places):
            return
        for position, line in enumerate(self._lines):
            place = places[position]
            if place >= 0:
                with lock:
                    status, job_id, files, credits_used = _outcome(loads(record(place)))
                yield LineResult(line, status, job_id=job_id, files=files, credits_used=credits_used)
            elif place == _WHOLE:
                yield whole[position]

    def saved(self) -> Iterator[SheetRow]:
        """Each result's ``SheetRow``, in manifest order: all the contact sheet reads of it.

        The sheet reads every line's result once per re-run (to tell whether the page
        changed). A spilled record carries the line's fields the sheet shows, so this
        reads no line back from the manifest's copy, and builds no ``LineResult``: the
        two were half of the sheet's cost (callgrind).
        """
        places, whole, lock, loads, record = self._places, self._whole, self._lock, marshal.loads, self._record
        for position in range(len(places)):
            place = places[position]
            if place >= 0:
                with lock:
                    row = loads(record(place))
                yield row[2:]
            elif place == _WHOLE:
                result = whole[position]
                line = result.line
                yield line.line, line.name, line.style, line.size, line.prompt, result.job_id, result.files

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _spill(self, position: int, result: LineResult) -> bool:
        if self._spill_failed:
            return False
        try:
            line, files = result.line, list(result.files)
            outcome = marshal.dumps((result.status, result.credits_used, line.line, line.name, line.style, line.size,
                                     line.prompt, result.job_id, files), MARSHAL_VERSION)  # _outcome reads it
        except ValueError:  # not a plain str, float or None (marshal takes nothing else): kept whole
            return False
        self._places[position] = self._end + len(self._pending)
        self._pending += len(outcome).to_bytes(_LENGTH_BYTES, "little")
        self._pending += outcome
        if len(self._pending) >= _FLUSH_BYTES:
            self._flush()
        return True

    def _flush(self) -> None:
        """Write out the pending records; if the disk will not take them, they (and later ones) stay in memory."""
        try:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="gptimg-batch-")
            write_at(self._file, self._pending, self._end)
        except OSError:
            self._spill_failed = True  # a full /tmp: keep them in memory, as before
            for held, place in enumerate(self._places):
                if place >= self._end:
                    self._whole[held] = self._read(self._lines[held], place)
                    self._places[held] = _WHOLE
            self._pending.clear()
            return
        self._end += len(self._pending)
        self._pending.clear()

    def _read(self, line: ManifestLine, place: int) -> LineResult:
        status, job_id, files, credits_used = _outcome(marshal.loads(self._record(place)))
        return LineResult(line, status, job_id=job_id, files=files, credits_used=credits_used)

    def _record(self, place: int) -> bytes:
        """The record at ``place``, without its length: from the last block read (the usual case, inline), the
        pending bytes, or the file."""
        block, at = self._block
        start = place - at
        if start >= 0 and place < self._end:
            body = start + _LENGTH_BYTES
            end = body + int.from_bytes(block[start:body], "little")
            if end <= len(block):
                return block[body:end]
        if place >= self._end:
            pending = _framed(self._pending, place - self._end)
            assert pending is not None
            return pending
        assert self._file is not None
        block = read_at(self._file, _READ_BYTES, place)
        record = _framed(block, 0)
        if record is None:  # longer than a block: read it whole
            size = int.from_bytes(block[:_LENGTH_BYTES], "little")
            block = read_at(self._file, _LENGTH_BYTES + size, place)
            record = _framed(block, 0)
            assert record is not None
        self._block = (block, place)
        return record


def _outcome(record: tuple[Any, ...]) -> tuple[str, Optional[str], list[str], Optional[float]]:
    """A spilled record's status, job id, files and credits (the rest is its ``SheetRow``, from its third field)."""
    return record[0], record[7], record[8], record[1]


def _framed(data: bytes | bytearray, start: int) -> bytes | None:
    """The record whose length is at ``start`` in ``data``, or None when ``data`` does not hold all of it."""
    body = start + _LENGTH_BYTES
    if body > len(data):
        return None
    end = body + int.from_bytes(data[start:body], "little")
    return bytes(data[body:end]) if end <= len(data) else None
