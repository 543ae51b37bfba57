"""The one fake clock: ``sleep`` records each delay and moves ``clock`` forward by it, so nothing really waits."""

from __future__ import annotations


class FakeTime:
    """Pass ``clock`` and ``sleep`` where the code under test takes them; read ``sleeps`` and ``now`` back."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
