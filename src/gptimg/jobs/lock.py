"""One process at a time per job where it matters: saving a job's images.

Two processes fetching one job at once (``gptimg result`` in two terminals, a
batch re-run beside a ``result``) would each find no saved file and each save
one. An exclusive ``flock`` on a small file next to the journal makes the
second wait, then find the first one's files. Where ``fcntl`` does not exist
(Windows) the lock is skipped and the old behaviour stays.

The files are a fixed set of ``LOCK_STRIPES`` stripes, each job hashed to one: a
file per job made every saved image create a new inode (the most expensive system
call of a batch's save path, ~6% of its CPU under ext4) and left one file per job
ever fetched in the folder, a folder that grew with the journal. Two jobs that share
a stripe wait for each other's save, a moment at most and rarely (a batch saves at
most 16 jobs at once: a 3% chance that another save holds the stripe); one job
always maps to one stripe, so the exclusion between processes is the same.
Each ``flock`` is taken on its own open of the file, so two threads of one
process exclude each other exactly as two processes do.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType

from gptimg.digests import sha256_hex

try:
    import fcntl
except ImportError:  # not POSIX: no lock, the old behaviour
    fcntl = None  # type: ignore[assignment]

LOCK_FOLDER = "locks"
#: How many lock files a journal's folder can hold, whatever the number of jobs.
LOCK_STRIPES = 512


def lock_name(job_id: str) -> str:
    """The stripe file ``job_id`` locks: the same name for the same job in every process."""
    digest = sha256_hex(job_id.encode("utf-8", "surrogatepass"))
    return f"stripe-{int(digest[:8], 16) % LOCK_STRIPES:03d}.lock"


class job_lock:  # noqa: N801  (used as ``with job_lock(...)``, as the generator it replaced)
    """Hold the job's lock for the block; a lock that cannot be made is skipped, never an error.

    A class rather than a ``@contextmanager`` generator, and the path joined as text, not
    with ``pathlib``: per saved image those were two thirds of the lock's CPU (two ``Path``
    joins and a generator resumed twice, cProfile of a 3,000-line batch); the three system
    calls (open, flock, close) are the same.
    """

    __slots__ = ("_path", "_fd")

    def __init__(self, directory: Path | str, job_id: str) -> None:
        self._path = f"{os.fspath(directory)}{os.sep}{LOCK_FOLDER}{os.sep}{lock_name(job_id)}"
        self._fd = -1

    def __enter__(self) -> None:
        if fcntl is None:
            return
        try:
            try:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            except FileNotFoundError:  # made on first use, not checked per job (two system calls an image)
                os.makedirs(os.path.dirname(self._path), exist_ok=True)
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing releases the lock
