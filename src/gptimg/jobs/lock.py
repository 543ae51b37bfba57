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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gptimg.digests import sha256_hex

LOCK_FOLDER = "locks"
#: How many lock files a journal's folder can hold, whatever the number of jobs.
LOCK_STRIPES = 512


def lock_name(job_id: str) -> str:
    """The stripe file ``job_id`` locks: the same name for the same job in every process."""
    digest = sha256_hex(job_id.encode("utf-8", "surrogatepass"))
    return f"stripe-{int(digest[:8], 16) % LOCK_STRIPES:03d}.lock"


@contextmanager
def job_lock(directory: Path, job_id: str) -> Iterator[None]:
    """Hold the job's lock for the block; a lock that cannot be made is skipped, never an error."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    path = directory / LOCK_FOLDER / lock_name(job_id)
    try:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # made on first use, not checked per job (two system calls an image)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
