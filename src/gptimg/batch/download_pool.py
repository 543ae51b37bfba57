"""The threads that save finished jobs' images, so a download never holds one of the batch's submit slots.

A thread starts only when a finished job finds none idle, up to a limit (the runner
gives ``min(concurrency, MAX_DOWNLOAD_THREADS)``): a download takes a moment next to
a job's minutes, and a pool as wide as the workers doubled the batch's threads (512
at C=256) for nothing but start-up, stacks and GIL contention. Threads are daemons,
so a hard exit never waits on them. If the system will not start one, the running
ones serve the queue; with none running, the caller saves a queued job itself, so a
paid job is never left unsaved.
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
        self.limit = 1
        self._threads = 0
        #: Jobs queued and not yet taken, and threads waiting for one.
        self._waiting = 0
        self._idle = 0

    def put(self, item: Item) -> None:
        """Queue a finished job; start a thread when none is free and the limit allows."""
        with self._lock:
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
        with self._lock:
            self._threads -= 1
            alone = self._threads == 0
        if alone:
            item = self._next()  # at least the job just queued is there
            if item is not None:
                self._save(item)

    def _next(self) -> Item | None:
        with self._lock:
            self._idle += 1
        item = self._queue.get()
        with self._lock:
            self._idle -= 1
            if item is not None:
                self._waiting -= 1
        return item

    def _serve(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            self._save(item)
