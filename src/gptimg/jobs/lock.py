"""One process at a time per job where it matters: saving a job's images.

Two processes fetching one job at once (``gptimg result`` in two terminals, a
batch re-run beside a ``result``) would each find no saved file and each save
one. An exclusive ``flock`` on a small file next to the journal makes the
second wait, then find the first one's files. Where ``fcntl`` does not exist
(Windows) the lock is skipped and the old behaviour stays.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gptimg.digests import sha256_hex

LOCK_FOLDER = "locks"


@contextmanager
def job_lock(directory: Path, job_id: str) -> Iterator[None]:
    """Hold the job's lock for the block; a lock that cannot be made is skipped, never an error."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    name = sha256_hex(job_id.encode("utf-8"))[:24]
    folder = directory / LOCK_FOLDER
    try:
        try:
            fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # made on first use, not checked per job (two system calls an image)
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(folder / f"{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
