"""Client-side pacing of paid submits: at most ``limit`` in any 60 s, bursts of up to ``limit`` at once.

The gateway allows 60 calls a minute per user; staying under that on our side
means a big batch does not meet 429s on its submits in the first place. Polls
and downloads are not counted: they are free and the long-poll paces them.

Why a sliding window and not a classic token bucket (capacity = rate, refill
rate/60 per second): that bucket lets a full burst through and then keeps
refilling, so up to 2 x rate - 1 calls can land inside one 60 s window, which
is exactly what trips a per-minute limit. Remembering the last ``limit`` grant
times gives the same burst at the start and a hard "at most ``limit`` in any
60 s", in O(limit) memory.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Callable

WINDOW_SECONDS = 60.0


class RateLimiter:
    """Thread-safe; ``acquire`` blocks until a submit may go. A limit of 0 turns it off.

    ``clock`` and ``sleep`` are injectable so tests run on a fake clock.
    """

    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        window: float = WINDOW_SECONDS,
    ) -> None:
        if per_minute < 0:
            raise ValueError("the rate limit cannot be negative")
        self.limit = int(per_minute)
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._grants: deque[float] = deque()

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    def try_acquire(self) -> float:
        """Take a slot and return 0, or return how many seconds until one frees up."""
        if not self.enabled:
            return 0.0
        with self._lock:
            now = self._clock()
            while self._grants and self._grants[0] <= now - self.window:
                self._grants.popleft()
            if len(self._grants) < self.limit:
                self._grants.append(now)
                return 0.0
            return max(self._grants[0] + self.window - now, 1e-3)

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Block until a slot is taken (True), or until ``stop`` is set while waiting (False).

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
