"""The per-job save lock: one saver per job, across threads and processes, in a folder that stays small."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from gptimg.jobs.lock import LOCK_FOLDER, job_lock

SRC = str(Path(__file__).resolve().parents[2] / "src")
#: The most lock files the folder may hold (``lock.LOCK_STRIPES``), however many jobs were saved.
MOST_LOCK_FILES = 512

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="flock")


def test_the_lock_folder_stays_bounded_however_many_jobs_are_saved(tmp_path: Path) -> None:
    # A file per job left one file per job ever fetched: a folder that grew with the journal,
    # and a new inode for every saved image.
    jobs = 3 * MOST_LOCK_FILES
    for number in range(jobs):
        with job_lock(tmp_path, f"job-{number:06d}"):
            pass
    files = list((tmp_path / LOCK_FOLDER).iterdir())
    assert 0 < len(files) <= MOST_LOCK_FILES


def test_two_threads_saving_one_job_take_turns(tmp_path: Path) -> None:
    inside = threading.Event()
    second_in = threading.Event()
    leave = threading.Event()

    def first() -> None:
        with job_lock(tmp_path, "job-same"):
            inside.set()
            leave.wait(10)

    def second() -> None:
        with job_lock(tmp_path, "job-same"):
            second_in.set()

    one = threading.Thread(target=first, daemon=True)
    one.start()
    assert inside.wait(10)
    two = threading.Thread(target=second, daemon=True)
    two.start()
    assert not second_in.wait(0.3), "the second saver got in while the first held the job"
    leave.set()
    assert second_in.wait(10), "the second saver never got in after the first left"
    one.join(10)
    two.join(10)


def _in_thread(directory: Path, job_id: str) -> threading.Event:
    """Set once a thread of this process holds the job's lock (the thread then leaves at once)."""
    got_in = threading.Event()

    def take() -> None:
        with job_lock(directory, job_id):
            got_in.set()

    threading.Thread(target=take, daemon=True).start()
    return got_in


def test_a_failure_inside_the_block_frees_the_lock(tmp_path: Path) -> None:
    with pytest.raises(OSError, match="disk full"), job_lock(tmp_path, "job-failing"):
        raise OSError("disk full")
    assert _in_thread(tmp_path, "job-failing").wait(10), "the lock stayed held after the saver failed"


@pytest.mark.e2e
def test_a_saver_killed_while_holding_the_lock_neither_blocks_the_next_nor_lets_it_in_early(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", (
            "import sys; from gptimg.jobs.lock import job_lock\n"
            "with job_lock(sys.argv[1], 'job-killed'):\n"
            "    print('held', flush=True); sys.stdin.read()\n"
        ), str(tmp_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": SRC},
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        got_in = _in_thread(tmp_path, "job-killed")
        assert not got_in.wait(0.3), "another process's saver got in while the first held the job"
        holder.send_signal(signal.SIGKILL)
        assert got_in.wait(10), "a saver killed mid-save left the job locked"
    finally:
        holder.kill()
        holder.wait(10)
