"""A client-side token bucket for paid submits: at most ``rate`` in any 60 s, bursts up to ``rate``.

The gateway allows 60 calls a minute per user; staying under that on our side
means a big batch never meets a 429 on a submit (which would cost a round trip
and a retry) in the first place. Polls and downloads are not counted: they are
free and the long-poll already paces them.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

PER_MINUTE = 60.0


class TokenBucket:
    """Thread-safe; ``acquire`` blocks until a token is free. A rate of 0 turns it off.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        per_minute: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute < 0:
            raise ValueError("the rate limit cannot be negative")
        self.capacity = float(per_minute)
        self.refill_per_second = self.capacity / PER_MINUTE
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        # Full at the start: a batch smaller than the limit goes out at once.
        self._tokens = self.capacity
        self._last = clock()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_per_second)

    def try_acquire(self) -> float:
        """Take a token and return 0, or return how many seconds until one will be free."""
        if not self.enabled:
            return 0.0
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.refill_per_second

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a token is taken (True), or until ``stop`` is set while waiting (False).

        With ``stop`` the wait is ``stop.wait`` so a Ctrl-C wakes it at once;
        without, the injected ``sleep``.
        """
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.try_acquire()
            if wait <= 0:
                return True
            if stop is not None:
                if stop.wait(wait):
                    return False
            else:
                self._sleep(wait)
