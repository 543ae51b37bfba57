"""The submit rate limiter, on a fake clock: bursts, the 60 s window, off at 0, and stopping."""

from __future__ import annotations

import threading

import pytest

from faketime import FakeTime
from gptimg.batch.ratelimit import RateLimiter


def test_a_burst_up_to_the_rate_passes_at_once_then_waits_for_the_window() -> None:
    t = FakeTime(start=100.0)
    bucket = RateLimiter(60, clock=t.clock, sleep=t.sleep)
    for _ in range(60):
        assert bucket.acquire()
    assert t.sleeps == []
    assert bucket.acquire()
    assert t.sleeps == [pytest.approx(60.0)]


def test_no_more_than_the_rate_in_any_60_second_window() -> None:
    t = FakeTime(start=100.0)
    bucket = RateLimiter(10, clock=t.clock, sleep=t.sleep)
    times = []
    for _ in range(55):
        bucket.acquire()
        times.append(t.now)
    for i, start in enumerate(times):
        in_window = [x for x in times[i:] if x < start + 60 - 1e-9]
        assert len(in_window) <= 10


def test_zero_turns_it_off() -> None:
    t = FakeTime(start=100.0)
    bucket = RateLimiter(0, clock=t.clock, sleep=t.sleep)
    assert not bucket.enabled
    for _ in range(1000):
        assert bucket.acquire()
    assert t.sleeps == []


def test_slots_come_back_as_grants_leave_the_window() -> None:
    t = FakeTime(start=100.0)
    bucket = RateLimiter(6, clock=t.clock, sleep=t.sleep)
    for _ in range(3):
        bucket.acquire()
    t.now += 30
    for _ in range(3):
        bucket.acquire()
    assert t.sleeps == []
    assert bucket.try_acquire() == pytest.approx(30.0)
    t.now += 30  # the first three leave the window
    assert [bucket.try_acquire() for _ in range(4)][:3] == [0, 0, 0]


def test_a_set_stop_event_ends_the_wait_without_a_token() -> None:
    bucket = RateLimiter(1)
    assert bucket.acquire()
    stop = threading.Event()
    threading.Timer(0.05, stop.set).start()
    assert bucket.acquire(stop) is False


def test_thread_safe_under_contention() -> None:
    t = FakeTime(start=100.0)
    lock = threading.Lock()

    def sleep(seconds: float) -> None:
        with lock:
            t.now += seconds

    bucket = RateLimiter(100, clock=t.clock, sleep=sleep)
    granted: list[int] = []

    def take() -> None:
        for _ in range(10):
            if bucket.try_acquire() == 0:
                granted.append(1)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 100


def test_negative_rate_is_refused() -> None:
    with pytest.raises(ValueError):
        RateLimiter(-1)
