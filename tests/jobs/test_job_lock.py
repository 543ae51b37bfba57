"""The per-job save lock: one saver per job, across threads and processes, in a folder that stays small."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import pytest

from gptimg.jobs.lock import LOCK_FOLDER, job_lock

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
