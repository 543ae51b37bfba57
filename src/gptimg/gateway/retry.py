"""When a free call is tried again, and how long to wait first.

Only calls that cost nothing and change nothing are retried (catalogue reads,
result polls, downloads, uploads). A submit spends credits, so it is never
retried here: the caller decides, with the user.
"""

from __future__ import annotations

import math
import threading
import time

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    import random
    from typing import Callable

#: A server asking us to wait longer than this is treated as this.
MAX_RETRY_AFTER = 120.0


def sane_retry_after(seconds: object) -> float | None:
    """A server's "wait this long" as seconds we will honour: capped at ``MAX_RETRY_AFTER``;
    None for anything that is not a finite number >= 0 (``inf``, ``nan``, ``-5``, ``"soon"``)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
        return None
    value = float(seconds)
    if not math.isfinite(value) or value < 0:
        return None
    return min(value, MAX_RETRY_AFTER)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        import email.utils  # only for the rare HTTP-date form; costs ~18 ms to import

        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - time.time()
    return sane_retry_after(max(0.0, seconds)) if math.isfinite(seconds) else None


class BackoffGate:
    """A "not before" time shared by every request of one process.

    A 429 means the whole account is going too fast, so in a batch every task
    should slow down together, not each one on its own schedule.
    """

    def __init__(self, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic):
        self._lock = threading.Lock()
        self._not_before = 0.0
        self._sleep = sleep
        self._clock = clock

    def push(self, delay: float) -> None:
        """Hold everyone for ``delay`` seconds (capped; a non-finite delay is ignored)."""
        delay = sane_retry_after(delay) or 0.0
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + delay)

    def wait(self) -> None:
        while True:
            with self._lock:
                remaining = self._not_before - self._clock()
            if remaining <= 0:
                return
            self._sleep(remaining)


class RetryPolicy:
    """Exponential backoff with full jitter, bounded by attempts and by total time.

    A plain class, not a dataclass: it is built on the agent CLI's start-up path,
    where importing ``dataclasses`` would cost more than the retry logic itself.
    """

    def __init__(
        self,
        max_attempts: int = 6,
        base_delay: float = 0.5,
        max_delay: float = 20.0,
        max_total_wait: float = 180.0,
        max_refused: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,  # created on the first retry: most calls never need one
        gate: BackoffGate | None = None,
    ) -> None:
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        #: Give up retrying once this much time has been spent waiting.
        self.max_total_wait = max_total_wait
        #: Refused connections tolerated in a row: a gateway that is down should fail fast,
        #: while a restarting one gets a moment (dropped connections and 5xx get the full budget).
        self.max_refused = max_refused
        self.sleep = sleep
        self._rng = rng
        self.gate = gate

    @property
    def rng(self) -> random.Random:
        if self._rng is None:
            import random

            self._rng = random.Random()
        return self._rng

    def __repr__(self) -> str:
        return f"RetryPolicy(max_attempts={self.max_attempts}, base_delay={self.base_delay}, max_delay={self.max_delay})"

    def delay_for(self, attempt: int, retry_after: float | None = None) -> float:
        """Wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        sane = sane_retry_after(retry_after)
        if sane is not None:
            return sane
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return self.rng.uniform(ceiling / 2, ceiling)

    def pause(self, delay: float, *, shared: bool) -> None:
        if shared and self.gate is not None:
            self.gate.push(delay)
            self.gate.wait()
        else:
            self.sleep(delay)

    def before_request(self) -> None:
        if self.gate is not None:
            self.gate.wait()


NO_RETRY = RetryPolicy(max_attempts=1)
