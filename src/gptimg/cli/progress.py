"""Showing a job's progress on stderr: a live line on a terminal, plain lines anywhere else.

A job takes about 150 s and the long-poll answers only every ~50 s, so the live
display keeps its own clock and redraws several times a second; the status it
shows is the last one the gateway gave. When stderr is a pipe or a file (CI,
agents, ``2>log``) the display would only write escape codes, so it prints a
plain line when the status changes instead, and at most every
``PLAIN_REPEAT_SECONDS`` while nothing changes. Colour follows ``NO_COLOR``
through rich.
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType
    from rich.live import Live
    from rich.spinner import Spinner

    from gptimg.jobs.download import SavedImage
    from gptimg.jobs.pipeline import SubmittedJob

#: In plain mode, repeat an unchanged status this often so a log shows the job is alive.
PLAIN_REPEAT_SECONDS = 30.0


def clock_text(seconds: float) -> str:
    """``75.4`` -> ``"1:15"``."""
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


class JobProgress:
    """A ``JobObserver`` that draws on the error console; use it as a context manager.

    The same object serves ``generate`` (from the submit on) and ``result``
    (from the first poll on); ``started`` is the monotonic time the job began,
    so elapsed time counts from the submit, not from this process.
    """

    def __init__(
        self,
        console: Console,
        *,
        job_id: str | None = None,
        estimated: float | None = None,
        started: float | None = None,
        live: bool | None = None,
    ) -> None:
        self.console = console
        self.live_mode = (console.is_terminal and not console.is_dumb_terminal) if live is None else live
        self.job_id = job_id
        self.estimated = estimated
        self.started = started if started is not None else time.monotonic()
        self.status_name = "waiting"
        self.expected_images = 0
        self.saved_images: list[SavedImage] = []
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._spinner: Spinner | None = None  # made on the first draw: plain mode never needs it
        self._last_plain: tuple[str, float] | None = None

    # --- context ----------------------------------------------------------------------

    def __enter__(self) -> JobProgress:
        if self.live_mode:
            from rich.live import Live

            self._live = Live(
                _Renderable(self), console=self.console, refresh_per_second=8, transient=True, redirect_stdout=False
            )
            self._live.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> None:
        """Take the live line off the screen (before anyone prints below it)."""
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    # --- JobObserver ------------------------------------------------------------------

    def submitted(self, job: SubmittedJob) -> None:
        with self._lock:
            self.job_id = job.job_id
            self.estimated = float(job.estimated_seconds)
            self.started = job.submitted_at
            self.status_name = "submitted"
        cost = f", {job.credits_used:g} credits" if job.credits_used is not None else ""
        self.console.print(
            f"Submitted job [bold]{job.job_id}[/]{cost}; expect about {job.estimated_seconds} s."
        )

    def status(self, job_id: str, status: str, elapsed: float, estimated: float) -> None:
        from gptimg.terminal import neutralise

        status = neutralise(status, one_line=True)[:60]
        with self._lock:
            self.job_id = job_id
            self.estimated = estimated
            self.started = time.monotonic() - elapsed
            # The gateway's own words, on one line and without control characters or markup.
            self.status_name = "downloading" if status == "done" else status
        if self.live_mode:
            return
        now = time.monotonic()
        if self._last_plain and self._last_plain[0] == status and now - self._last_plain[1] < PLAIN_REPEAT_SECONDS:
            return
        self._last_plain = (status, now)
        self.console.print(
            f"job {job_id}: {status} ({clock_text(elapsed)} of about {clock_text(estimated)})", markup=False
        )

    def saved(self, image: SavedImage) -> None:
        with self._lock:
            self.saved_images.append(image)

    def notice(self, message: str) -> None:
        """Something the person should know about the job that is not a failure (e.g. extra items skipped)."""
        self.console.print(f"warning: {message}", markup=False)

    # --- drawing ----------------------------------------------------------------------

    def render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.spinner import Spinner
        from rich.table import Table
        from rich.text import Text

        with self._lock:
            elapsed = time.monotonic() - self.started
            estimated = self.estimated
            status = self.status_name
            saved = len(self.saved_images)
            job_id = self.job_id
        label = status
        if status == "downloading" and saved:
            label = f"downloading ({saved} saved)"
        if self._spinner is None:
            self._spinner = Spinner("dots", style="cyan")
        self._spinner.update(text=Text(f" {label}", style="bold"))
        # The elapsed time comes right after the status, so a narrow terminal (40 columns) cuts the
        # bar and the job id, never the clock; the bar and the id are only drawn where they fit.
        width = self.console.width
        line = Table.grid(padding=(0, 1))
        line.add_column(min_width=24 if width >= 60 else 0)  # "downloading (4 saved)": the bar never jumps
        line.add_column(no_wrap=True)
        times = f"{clock_text(elapsed)} / ~{clock_text(estimated)}" if estimated else clock_text(elapsed)
        cells: list[Any] = [self._spinner, times]
        if width >= 60:
            bar = ProgressBar(total=estimated or None, completed=min(elapsed, estimated or 0), width=24)
            if estimated and elapsed > estimated:
                bar = ProgressBar(total=None, width=24)  # past the estimate: pulse instead of sitting full
            line.add_column(width=24)
            cells.append(bar)
        if width >= 80 and job_id:
            line.add_column(style="dim", no_wrap=True)
            cells.append(f"job {job_id}")
        line.add_row(*cells)
        return Group(line)


class _Renderable:
    """Rich asks this for a fresh picture on every refresh, so the clock ticks between polls."""

    def __init__(self, progress: JobProgress) -> None:
        self.progress = progress

    def __rich__(self) -> Any:
        return self.progress.render()
