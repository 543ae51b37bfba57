"""A download's file, flushed to disk while the bytes are still arriving.

An image must be on disk before the journal says it is saved, so ``save_image``
fsyncs it before the rename. Left to the end, that fsync writes the whole image
at once: 0.19-0.22 s for 128 MiB on this project's machines, longer than the
download itself on loopback. Instead, each time ``STEP`` more bytes have been
written, a helper thread flushes what is there so far (``fdatasync``) while the
download carries on, so the final fsync only waits for the last few MiB.
Durability is unchanged: the final fsync still happens, before the rename.

Small images (all of a batch's, typically) never reach ``STEP`` and never start
the thread.
"""

from __future__ import annotations

import os
import threading
from typing import IO

#: Flush to disk in the background each time this many more bytes were written.
STEP = 8 * 1024 * 1024

_flush_data = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


class EarlyWriteback:
    """Wraps the open partial file: ``write`` / ``seek`` / ``truncate`` / ``flush`` as the file's."""

    def __init__(self, file: IO[bytes], *, step: int | None = None, head_bytes: int = 0) -> None:
        self._file = file
        self._step = step or STEP
        self._unflushed = 0
        #: Made with the thread: an Event (a Condition and a lock) per small image was 2-3 % of a batch's CPU.
        self._wanted: threading.Event | None = None
        self._asked = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: How many background flushes ran (for tests and benchmarks).
        self.flushes = 0
        #: The file's first ``head_bytes`` bytes as written (since the last rewind): sniffing the type
        #: from here spares reading them back (a seek, a read and a rewind of the buffered file).
        self.head = b""
        self._head_bytes = head_bytes

    def write(self, data: bytes | memoryview) -> int:
        written = self._file.write(data)
        if len(self.head) < self._head_bytes:
            self.head += bytes(data[: min(written, self._head_bytes - len(self.head))])
        self._unflushed += written
        if self._unflushed >= self._step:
            self._unflushed = 0
            self._file.flush()
            self._kick()
        return written

    def _kick(self) -> None:
        if self._thread is None:
            self._wanted = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._wanted,), name="gptimg-writeback",
                                            daemon=True)
            self._thread.start()
        self._asked = True
        assert self._wanted is not None
        self._wanted.set()

    def _run(self, wanted: threading.Event) -> None:
        fd = self._file.fileno()
        while True:
            wanted.wait()
            wanted.clear()
            if self._asked:
                self._asked = False
                try:
                    _flush_data(fd)
                except OSError:
                    return  # the final fsync will report what is wrong, in the caller's thread
                self.flushes += 1
            if self._stopping:
                return

    def seek(self, offset: int, whence: int = 0) -> int:
        self._unflushed = 0
        if (offset, whence) != (0, 0):
            self._head_bytes = 0  # the head no longer follows the writes: nobody may trust it
        self.head = b""
        return self._file.seek(offset, whence)

    def truncate(self, size: int | None = None) -> int:
        return self._file.truncate(size)

    def flush(self) -> None:
        self._file.flush()

    def fileno(self) -> int:
        return self._file.fileno()

    def stop(self) -> None:
        """Wait for the helper thread (if one started): it must not flush a file being renamed or closed."""
        if self._thread is not None:
            self._stopping = True
            assert self._wanted is not None
            self._wanted.set()
            self._thread.join()
            self._thread = None
