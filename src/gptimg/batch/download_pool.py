"""The threads that save finished jobs' images, so a download never holds one of the batch's submit slots.

A thread starts only when a finished job finds none idle, up to a limit (the runner
gives ``min(concurrency, MAX_DOWNLOAD_THREADS)``): a download takes a moment next to
a job's minutes, and a pool as wide as the workers doubled the batch's threads (512
at C=256) for nothing but start-up, stacks and GIL contention. Threads are daemons,
so a hard exit never waits on them. If the system will not start one, the running
ones serve the queue; with none running, the caller saves a queued job itself, so a
paid job is never left unsaved.

The queue is bounded (``backlog``: the runner gives its number of workers). Downloads
need more CPU per job than submits and polls, and 16 threads get a small share of
the GIL beside 64 workers: an unbounded queue grew all batch long (1,700 finished jobs
waiting, each holding its line, record and answer, at line 3,300 of 5,000), so a
batch's peak memory grew with its lines. A worker that finds the queue full waits for
room before it submits again: at most ``backlog`` finished jobs wait, whatever the
batch's size, and the batch ends no later (its last download was the end anyway).
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Generic, TypeVar

#: At most this many threads save finished jobs' images (and never more than the batch's concurrency).
MAX_DOWNLOAD_THREADS = 16

Item = TypeVar("Item")


class DownloadPool(Generic[Item]):
    def __init__(self, save: Callable[[Item], None], start: Callable[[Callable[[], None], str], Any]) -> None:
        self._save = save
        self._start = start
        self._queue: queue.SimpleQueue[Item | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        #: Signalled when a queued job is taken (or a thread failed to start): room for a waiting ``put``.
        self._room = threading.Condition(self._lock)
        self.limit = 1
        #: Finished jobs that may wait for a thread; ``put`` waits while this many do.
        self.backlog = 1
        self._threads = 0
        #: Jobs queued and not yet taken, and threads waiting for one.
        self._waiting = 0
        self._idle = 0

    def size(self, *, threads: int, backlog: int) -> None:
        """At most ``threads`` download threads, and ``backlog`` finished jobs queued for them."""
        with self._lock:
            self.limit = threads
            self.backlog = max(1, backlog)

    def put(self, item: Item) -> None:
        """Queue a finished job, once there is room; start a thread when none is free and the limit allows.

        Waits only while a thread is running to make room: with none (none would start),
        the job is queued at once and saved by its caller (``_no_new_thread``).
        """
        with self._lock:
            while self._threads and self._waiting - self._idle >= self.backlog:
                self._room.wait()
            self._waiting += 1
            grow = self._waiting > self._idle and self._threads < self.limit
            if grow:
                self._threads += 1
                number = self._threads
        self._queue.put(item)
        if grow:
            try:
                self._start(self._serve, f"gptimg-download-{number}")
            except RuntimeError:  # the system gives no more threads
                self._no_new_thread()

    def close(self) -> None:
        """Every line has its result: let each thread leave."""
        with self._lock:
            threads = self._threads
        for _ in range(threads):
            self._queue.put(None)

    def _no_new_thread(self) -> None:
        """No thread would start: with none running, the caller saves what is queued itself.

        Every queued job, not just one: two callers whose threads both failed to start
        queued two jobs, and only the second found itself alone.
        """
        with self._lock:
            self._threads -= 1
            alone = self._threads == 0
            self._room.notify_all()  # a caller waiting for a thread that will not come stops waiting
        while alone:
            item = self._queued()
            if item is None:
                return
            self._save(item)
            with self._lock:
                alone = self._threads == 0

    def _queued(self) -> Item | None:
        """A queued job if there is one, without waiting."""
        try:
            item = self._queue.get_nowait()
        except queue.Empty:
            return None
        if item is not None:
            with self._lock:
                self._waiting -= 1
                self._room.notify()
        return item

    def _next(self) -> Item | None:
        with self._lock:
            self._idle += 1
        item = self._queue.get()
        with self._lock:
            self._idle -= 1
            if item is not None:
                self._waiting -= 1
                self._room.notify()
        return item

    def _serve(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            self._save(item)
