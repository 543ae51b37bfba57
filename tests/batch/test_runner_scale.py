"""The scheduler's own costs at scale, with the gateway and journal halves faked: threads, jobs in flight, memory.

The pipeline's three steps (``submit_job``, ``await_job``, ``save_job``) are
replaced in the runner's namespace by fakes that answer at once or wait on the
test's events, so what is measured is only what the runner itself does per line:
how many threads it starts, how many jobs it lets run at once, what it keeps.
"""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import pytest

from gptimg.batch import report
from gptimg.batch import runner as runner_module
from gptimg.batch.contact_sheet import write_contact_sheet
from gptimg.batch.download_pool import DownloadPool
from gptimg.batch.runner import MAX_DOWNLOAD_THREADS, BatchRunner, BatchSettings

from .conftest import manifest_lines

WAIT = 10.0  # seconds an event may take before the test calls the runner stuck


class FakeJournal:
    """Just enough journal for the plan and the way out: no rows, nothing abandoned."""

    def for_batch_key(self, key: str) -> list[Any]:
        return []

    def for_batch_keys(self, keys: list[str]) -> dict[str, list[Any]]:
        return {}

    def plan_rows(self, keys: list[str]) -> list[Any]:
        return []

    def abandon_submitting(self, reason: str) -> int:
        return 0

    def ensure_job(self, job_id: str, **kwargs: Any) -> None:
        return None  # no row: the fake pipeline needs none

    def get(self, job_id: str) -> None:
        return None


class FakePipeline:
    """``submit_job``/``await_job``/``save_job`` for the runner; ``in_flight`` counts submitted, unfinished jobs."""

    def __init__(self, out_dir: Path, *, poll: Callable[[str], None] = lambda job_id: None,
                 save: Callable[[str], None] = lambda job_id: None) -> None:
        self.out_dir = out_dir
        self.poll = poll
        self.save = save
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self.submitted = 0
        self.polled = 0

    def submit_job(self, client: Any, journal: Any, request: Any, **kwargs: Any) -> Any:
        with self.lock:
            self.submitted += 1
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            job_id = f"job_{self.submitted:08d}"
        return SimpleNamespace(job_id=job_id, credits_used=300.0)

    def await_job(self, client: Any, journal: Any, job_id: str, **kwargs: Any) -> list[dict[str, Any]]:
        self.poll(job_id)
        with self.lock:
            self.in_flight -= 1
            self.polled += 1
        return [{"url": f"https://cdn.example/{job_id}.png"}]

    def save_job(self, client: Any, journal: Any, job_id: str, items: Any, *, label: str, **kwargs: Any) -> Any:
        self.save(job_id)
        path = f"{self.out_dir}/{label}-{job_id}-1.png"  # a str: pathlib's interning would be the fake's cost
        with open(path, "wb"):
            pass
        images = [SimpleNamespace(path=path)]
        if kwargs.get("on_journaled") is not None:  # as the real one: the row "written", then the caller told
            kwargs["on_journaled"](images, None)
        return images

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for name in ("submit_job", "await_job", "save_job"):
            monkeypatch.setattr(runner_module, name, getattr(self, name))


def make_runner(lines: list[Any], out_dir: Path, concurrency: int) -> BatchRunner:
    client = SimpleNamespace(base_url="https://gateway.example")
    settings = BatchSettings(out_dir=out_dir, concurrency=concurrency, cost=300)
    return BatchRunner(client, FakeJournal(), lines, settings)  # type: ignore[arg-type]


def runner_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("gptimg-batch-", "gptimg-download-"))]


def test_downloads_never_hold_a_submit_slot_and_c_workers_need_far_fewer_than_2c_threads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Polls finish only C at a time, downloads hang until a second round of C jobs is polled: the first
    round's hanging downloads hold no submit slot (C more jobs run meanwhile), never more than C at once,
    by C workers and a download pool far narrower than C. (A pool that falls further behind makes the
    workers wait: see the bounded-backlog test below.)"""
    concurrency, count = 32, 2 * 32
    all_polled = threading.Event()
    round_of_polls = threading.Barrier(concurrency, timeout=WAIT)  # C jobs in flight, every worker alive
    most_threads = 0

    def poll(job_id: str) -> None:
        nonlocal most_threads
        round_of_polls.wait()
        most_threads = max(most_threads, len(runner_threads()))
        if pipeline.polled + 1 == count:
            all_polled.set()

    def save(job_id: str) -> None:
        nonlocal most_threads
        most_threads = max(most_threads, len(runner_threads()))
        assert all_polled.wait(WAIT)

    pipeline = FakePipeline(tmp_path, poll=poll, save=save)
    pipeline.install(monkeypatch)
    runner = make_runner(manifest_lines(count), tmp_path, concurrency)
    runner.start()
    assert all_polled.wait(WAIT), "downloads that hang stopped the workers from submitting"
    assert runner.wait(WAIT)
    results = runner.results()
    assert [r.status for r in results] == [report.DONE] * count
    assert pipeline.submitted == count
    assert pipeline.peak_in_flight == concurrency
    assert most_threads <= concurrency + MAX_DOWNLOAD_THREADS < 2 * concurrency, most_threads


def test_a_download_pool_that_falls_behind_makes_the_next_finished_job_wait_and_saves_each_once() -> None:
    """Downloads slower than jobs finish (a busy CPU, a slow disk) once queued 1,700 finished jobs by line
    3,300 of a 5,000-line batch, each holding its line, record and answer: memory grew with the batch.
    The queue holds ``backlog`` jobs; the next caller waits for room, and nothing is lost or saved twice."""
    release = threading.Event()
    saved: list[int] = []
    started: list[threading.Thread] = []

    def save(item: int) -> None:
        assert release.wait(WAIT)
        saved.append(item)

    def start(target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        started.append(thread)
        thread.start()

    pool: DownloadPool[int] = DownloadPool(save, start)
    pool.size(threads=1, backlog=2)
    for item in (1, 2, 3):  # one being saved (it hangs), two queued
        pool.put(item)
    fourth = threading.Thread(target=pool.put, args=(4,), daemon=True)
    fourth.start()
    fourth.join(0.3)
    assert fourth.is_alive(), "a fourth finished job was queued past the backlog of two"
    release.set()
    fourth.join(WAIT)
    assert not fourth.is_alive()
    pool.close()
    for thread in started:
        thread.join(WAIT)
    assert sorted(saved) == [1, 2, 3, 4]
    assert len(started) == 1


def test_the_download_pool_grows_while_finished_jobs_wait_for_a_free_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Four downloads that can only finish together: a pool stuck at one thread would never finish them."""
    together = threading.Barrier(4, timeout=WAIT)
    pipeline = FakePipeline(tmp_path, save=lambda job_id: together.wait())
    pipeline.install(monkeypatch)
    results = make_runner(manifest_lines(4), tmp_path, 4).run()
    assert [r.status for r in results] == [report.DONE] * 4
    assert not together.broken


def test_when_no_download_thread_will_start_every_paid_job_is_still_saved_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Threads run out (a ulimit, a busy machine): the workers save the downloads themselves, none lost or doubled."""
    pipeline = FakePipeline(tmp_path)
    pipeline.install(monkeypatch)
    real_start = threading.Thread.start

    def refuse_downloaders(thread: threading.Thread) -> None:
        if thread.name.startswith("gptimg-download-"):
            raise RuntimeError("can't start new thread")
        real_start(thread)

    monkeypatch.setattr(threading.Thread, "start", refuse_downloaders)
    runner = make_runner(manifest_lines(20), tmp_path, 4)
    runner.start()
    assert runner.wait(WAIT), "a queued download was never saved"
    results = runner.results()
    assert [r.status for r in results] == [report.DONE] * 20
    assert len({r.files[0] for r in results}) == 20
    assert runner.tally.done == 20


def _held_per_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, count: int) -> tuple[float, float]:
    """(bytes the finished runner keeps per line, peak bytes writing the contact sheet), past the manifest."""
    out_dir = tmp_path / f"out-{count}"
    out_dir.mkdir()
    FakePipeline(out_dir).install(monkeypatch)
    lines = manifest_lines(count)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        runner = make_runner(lines, out_dir, 8)
        runner.run()
        kept = tracemalloc.get_traced_memory()[0] - before
        assert runner.tally.done == count
        tracemalloc.reset_peak()
        start = tracemalloc.get_traced_memory()[0]
        write_contact_sheet(runner.outcomes(), out_dir)
        sheet = tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()
    return kept, sheet


def test_what_a_run_holds_per_line_stays_small_and_the_contact_sheet_is_streamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 lines against 200: what grows is a few hundred bytes a line, and writing the sheet grows by nothing."""
    small_kept, small_sheet = _held_per_line(tmp_path, monkeypatch, 200)
    large_kept, large_sheet = _held_per_line(tmp_path, monkeypatch, 2000)
    per_line = (large_kept - small_kept) / 1800
    # Kept per line: the plan's entry, the job id, the file's path and a small tuple, ~420 bytes; a whole
    # LineResult per line made it ~660.
    assert per_line < 540, f"the runner keeps {per_line:.0f} bytes per line"
    # Building the page in memory cost ~2.4 kB per line; streamed, the sheet's peak does not depend on the lines.
    growth = large_sheet - small_sheet
    assert growth < 256 * 1024, f"writing the sheet for 1,800 more lines took {growth} more bytes"
