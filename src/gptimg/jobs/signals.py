"""Signals around the moment money changes hands.

Between sending a submit and writing its job id to the journal, a Ctrl-C would
lose a paid job. ``paid_section`` holds SIGINT and SIGTERM until the journal has
the id, then delivers them. Elsewhere SIGTERM is raised as ``Terminated`` so the
same cleanup as for Ctrl-C runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

from gptimg.errors import Terminated

#: How long a stop waits, at most, for a submit in flight to answer: the submit's own read timeout
#: (``gateway.tool_calls.SUBMIT_TIMEOUT``), after which the submit gives up by itself as ``unknown``.
SUBMIT_ANSWER_WAIT = 60


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def install_sigterm_handler() -> None:
    """Make SIGTERM unwind like Ctrl-C (exit 143 instead of dying mid-write)."""
    if _in_main_thread():
        signal.signal(signal.SIGTERM, _raise_terminated)


@contextmanager
def paid_section(on_hold: Callable[[], None] | None = None) -> Iterator[None]:
    """Defer SIGINT/SIGTERM until the block ends (main thread only; elsewhere a no-op)."""
    if not _in_main_thread():
        yield
        return
    held: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        if not held and on_hold is not None:
            on_hold()
        held.append(signum)

    previous_int = signal.signal(signal.SIGINT, hold)
    previous_term = signal.signal(signal.SIGTERM, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)
    if signal.SIGTERM in held:
        raise Terminated()
    if signal.SIGINT in held:
        raise KeyboardInterrupt()
