"""Waiting for something to have happened, never for a guessed number of seconds."""

from __future__ import annotations

import time
from typing import Callable, TypeVar

T = TypeVar("T")


def wait_until(condition: Callable[[], T], *, timeout: float = 30, what: str = "the condition") -> T:
    """``condition()``'s first truthy value; fails the test if ``timeout`` passes first."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting for {what} after {timeout:g} s")
        time.sleep(0.01)


def long_poll_reached(sandbox: object, polls: int = 1) -> Callable[[], bool]:
    """True once an in-process sandbox has taken ``polls`` result polls (it then holds the latest one)."""
    return lambda: sandbox.stats()["result_polls"] >= polls  # type: ignore[attr-defined]
