"""The batch scheduler: a fixed set of worker threads, each carrying one job from submit to saved files.

``concurrency`` workers means at most that many jobs in flight (submitted, not
yet finished), each with at most one long-poll open, all on the client's one
connection pool. The moment a job is done its download goes to a separate pool
(``batch/download_pool.py``: threads started as jobs wait, at most 16) and the
worker submits the next line, so saving images never holds a submit slot. Submits
additionally pass the rate limiter and the shared backoff gate, so a 429 anywhere
slows every worker, not just one. Results are spilled to a temporary file (``kept_results.py``).

What each line needs is planned beforehand (``batch/plan.py``); each job goes
through the same two halves of the pipeline as ``generate`` and ``result``
(``submit_job``, then ``await_job`` and ``save_job``), with the gateway's own
retry policy and nothing on top. A poll or download that still fails leaves the
job open in the journal, so a re-run fetches it for free.

Submits run in worker threads, where signals cannot be held: the command's main
thread stops new submits at the first signal and waits (``wait_for_submits``)
for the ones in flight to answer, so their job ids reach the journal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from gptimg import errors
from gptimg.batch.download_pool import MAX_DOWNLOAD_THREADS, DownloadPool
from gptimg.batch.kept_results import KeptResults
from gptimg.batch.manifest import ManifestLine
from gptimg.batch.plan import (  # noqa: F401  (re-exported: the kinds and rules tests and callers use)
    ATTENTION,
    FETCH,
    HAVE,
    NEW,
    RENEW,
    RESUME,
    RETRY,
    BatchPlan,
    PlannedLine,
    PlannedLines,
    claims_line,
    make_plan,
    same_gateway,
    standing_result,
    standing_results,
)
from gptimg.batch.ratelimit import RateLimiter
from gptimg.batch.report import DONE, FAILED, SKIPPED, UNKNOWN, LineResult, Tally
from gptimg.batch.uploads import ReferenceUploads
from gptimg.gateway import BackoffGate, GatewayClient
from gptimg.jobs import JobJournal, JobRecord, SilentObserver, await_job, save_job, submit_job
from gptimg.params import GenerationRequest

#: A submit answered 429 (nothing charged) is tried again after the backoff this many times.
SUBMIT_ATTEMPTS = 5
#: A done job to save: its line, id, items, credits this run paid, row, and whether this run submitted it.
_DownloadItem = tuple[ManifestLine, str, list[dict[str, Any]], Optional[float], Optional[JobRecord], bool]

ResultListener = Callable[[LineResult], None]


@dataclass
class BatchSettings:
    """How a run goes (a docstring: without one, ``dataclasses`` loads ``inspect`` to write one: 26 M instructions)."""

    out_dir: Path
    concurrency: int = 4
    #: Credits one submit costs (from the catalogue); used for the cap and the estimate.
    cost: float = 300
    #: Hard cap on credits this run commits to submits; None for no cap.
    max_credits: float | None = None
    #: Who the journal says submitted (an email or name, never a key).
    account: str | None = None
    #: Pay again for lines whose job the gateway failed (``--resubmit-failed``).
    resubmit_failed: bool = False
    #: Pay again for lines that already have a job, for new images (``--new-images``).
    new_images: bool = False


class BatchRunner:
    """Runs one manifest's lines; ``plan()`` first (for the confirmation), then ``start()`` or ``run()``."""

    def __init__(
        self,
        client: GatewayClient,
        journal: JobJournal,
        lines: Sequence[ManifestLine],
        settings: BatchSettings,
        *,
        limiter: RateLimiter | None = None,
        gate: BackoffGate | None = None,
        on_result: ResultListener | None = None,
    ) -> None:
        self.client = client
        self.journal = journal
        self.lines = lines
        self.settings = settings
        self.limiter = limiter or RateLimiter(0)
        #: The same gate the client's RetryPolicy uses, so a 429 on a poll also holds back submits.
        self.gate = gate or BackoffGate()
        self.on_result = on_result
        self.tally = Tally(total=len(lines))
        self._plan: BatchPlan | None = None
        self._lock = threading.Lock()
        self._queue: Iterator[PlannedLine] = iter(())
        self._kept = KeptResults(lines)
        self._reported = 0
        self._threads: list[threading.Thread] = []
        self._finished = threading.Event()
        #: Done jobs waiting to be saved; served by daemon threads so a hard exit never waits on them.
        self._downloads: DownloadPool[_DownloadItem] = DownloadPool(self._save, self._start_thread)
        #: Set by the first Ctrl-C: no new submits; paid jobs are still polled and fetched.
        self.stop = threading.Event()
        self._blocked: errors.GptimgError | None = None
        self._committed = 0.0
        self._running = 0
        self._spent = 0.0
        self._uploads = ReferenceUploads(client)
        #: Submits sent and not yet answered; the main thread waits on this before leaving.
        self._submitting = 0
        self._submits_settled = threading.Condition(self._lock)
        #: Jobs of this run (by manifest line) that have no result yet.
        self._open_jobs: dict[int, str] = {}

    # --- before the run ---------------------------------------------------------------

    @property
    def batch_plan(self) -> BatchPlan:
        if self._plan is None:
            self._plan = make_plan(
                self.journal, self.lines, out_dir=self.settings.out_dir, gateway=self.client.base_url,
                cost=self.settings.cost, max_credits=self.settings.max_credits,
                resubmit_failed=self.settings.resubmit_failed, new_images=self.settings.new_images,
            )
        return self._plan

    def plan(self) -> PlannedLines:
        return self.batch_plan.lines

    def count(self, kind: str) -> int:
        return self.batch_plan.counts[kind]

    def submits_allowed(self) -> int:
        """How many of the lines to submit fit under ``--max-credits``."""
        return self.batch_plan.allowed

    # --- the run ----------------------------------------------------------------------

    def start(self) -> None:
        """Report lines that need no work, then start the workers. Returns at once."""
        plan = self.batch_plan
        for results in standing_results(plan):  # a few hundred at a time: a turn of the lock each, not one a line
            self._report_all(results)
        plan.lines.forget_done()
        queued, self._queue = plan.queued()
        workers = min(max(1, self.settings.concurrency), queued)
        if workers == 0:
            return
        self._downloads.size(threads=min(workers, MAX_DOWNLOAD_THREADS), backlog=workers)
        for number in range(workers):
            self._start_thread(self._worker, f"gptimg-batch-{number}")

    def _start_thread(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    def request_stop(self) -> None:
        """First Ctrl-C: no new submits from now on; jobs already paid for are still finished."""
        self.stop.set()
        with self._lock:
            self._submits_settled.notify_all()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every line has a result."""
        return self._finished.wait(timeout)

    def run(self) -> list[LineResult]:
        """``start`` and wait: the blocking form, for tests and library use."""
        self.start()
        self.wait()
        return self.results()

    def results(self) -> list[LineResult]:
        return list(self.outcomes())  # every line's result so far, in manifest order (for tests and library use)

    def outcomes(self) -> KeptResults:
        """The results so far in manifest order, rebuilt as they are read; iterable again and again."""
        return self._kept

    def snapshot(self) -> dict[str, float]:
        """Counts for the progress bar."""
        with self._lock:
            t = self.tally
            return {
                "done": t.done + t.already_done,
                "running": self._running,
                "failed": t.failed + t.unknown,
                "skipped": t.skipped,
                "remaining": t.total - t.finished,
                "credits": self._spent,
                "total": t.total,
                "finished": t.finished,
            }

    def submits_in_flight(self) -> int:
        with self._lock:
            return self._submitting

    def wait_for_submits(self, timeout: float, should_leave: Callable[[], bool] = lambda: False) -> bool:
        """After a stop: wait until no submit is in flight (True), ``timeout`` passes or ``should_leave`` says so."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._submitting and not should_leave():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._submits_settled.wait(min(left, 0.2))
            return self._submitting == 0

    def open_jobs(self) -> list[str]:
        """Job ids this run submitted or resumed that have no result yet (they keep running on the gateway)."""
        with self._lock:
            return [job_id for _, job_id in sorted(self._open_jobs.items())]

    def abandon(self) -> int:
        """On the way out after a hard stop: no row may stay ``submitting``."""
        return self.journal.abandon_submitting("gptimg batch exited while the submit was in flight")

    # --- workers ----------------------------------------------------------------------

    def _report(self, result: LineResult) -> None:
        self._report_all((result,))

    def _report_all(self, results: Sequence[LineResult]) -> None:
        """Keep, count and pass on ``results`` (a worker's one, or a re-run's lines already done, many at once)."""
        keep, open_jobs = self._kept.keep, self._open_jobs
        with self._lock:
            for result in results:
                keep(result)
                open_jobs.pop(result.line.line, None)
            self.tally.add_all(results)
            self._reported += len(results)
            last = self._reported == len(self.lines)
        if self.on_result is not None:
            for result in results:
                self.on_result(result)
        if last:
            self._finished.set()
            self._downloads.close()

    def _take(self) -> tuple[PlannedLine | None, str | None]:
        """The next line, and why it is skipped (None to run it); reserves a new line's credits."""
        with self._lock:
            planned = next(self._queue, None)
            if planned is None:
                return None, None
            if planned.kind in (RESUME, FETCH):
                return planned, None
            if self.stop.is_set():
                return planned, "interrupted before it was submitted"
            if self._blocked is not None:
                return planned, f"not submitted: {self._blocked.message}"
            cap = self.settings.max_credits
            if cap is not None and self._committed + self.settings.cost > cap:
                return planned, f"over --max-credits {cap:g} ({self._committed:g} committed)"
            self._committed += self.settings.cost
            return planned, None

    def _release(self) -> None:
        """A submit that was refused (nothing charged) gives its credits back to the cap."""
        with self._lock:
            self._committed -= self.settings.cost

    def _worker(self) -> None:
        while True:
            planned, skip = self._take()
            if planned is None:
                return
            if skip is not None:
                self._report(LineResult(planned.line, SKIPPED, error=skip, code="skipped"))
                continue
            try:
                result = self._process(planned)
            except BaseException as exc:  # a worker never dies without reporting its line
                result = LineResult.from_error(planned.line, FAILED, exc)
            if result is not None:
                self._report(result)

    def _process(self, planned: PlannedLine) -> LineResult | None:
        """The line's result, or None once its download is handed to the download pool."""
        record = planned.record
        if planned.kind in (FETCH, RESUME):
            assert record is not None and record.job_id is not None
            with self._lock:
                self._open_jobs[planned.line.line] = record.job_id
            if planned.kind == FETCH:
                return self._hand_off(planned.line, record.job_id, record.items, credits_used=None, record=record)
            return self._await_job(planned.line, record.job_id, credits_used=None)
        return self._submit_and_await(planned.line, planned.seen_row)

    def _claimed_elsewhere(self, line: ManifestLine, seen_row: int) -> Callable[[JobRecord], bool]:
        gateway = self.client.base_url
        return lambda record: claims_line(record, line, gateway, after_row=seen_row)

    def _settled(self) -> None:
        """A submit counted by ``_submitting`` was answered or failed (called with the lock held).

        Only a stopping run waits for submits (``wait_for_submits``, which also re-checks
        every 0.2 s): notifying on every submit was a Condition round per image for nobody.
        """
        self._submitting -= 1
        if self.stop.is_set():
            self._submits_settled.notify_all()

    def _paid(self, line: ManifestLine, job_id: str, credits_used: float | None, *, answered: bool = False) -> float:
        """Count a submit the gateway answered with a job id; the credits it cost.

        ``answered``: the submit was in flight, and its job is polled next. Settling it and
        counting it as running take the same turn of the lock (each turn is a GIL hand-over
        when 64 workers contend for it).
        """
        credits = credits_used if credits_used is not None else self.settings.cost
        with self._lock:
            self.tally.submits += 1
            self._spent += credits
            self._open_jobs[line.line] = job_id
            if answered:
                self._settled()
                self._running += 1
        return credits

    def _submit_once(self, line: ManifestLine, attempt: int, seen_row: int = 0) -> tuple[str, float] | LineResult | None:
        """One submit: (job id, credits) once paid, a result when the line ends here, None to try again."""
        request = GenerationRequest(prompt=line.prompt, size=line.size, n=line.n, style=line.style,
                                    references=line.refs)
        try:
            reference_field = self._uploads.field(line.refs)
            with self._lock:  # in flight from before it is sent until it is answered, for ``wait_for_submits``
                self._submitting += 1
            try:
                submitted = submit_job(
                    self.client, self.journal, request,
                    reference_field=reference_field, account=self.settings.account,
                    out_dir=self.settings.out_dir, batch_key=line.key, name=line.name,
                    conflicts=self._claimed_elsewhere(line, seen_row),
                )
            except BaseException:
                with self._lock:
                    self._settled()
                raise
        except errors.LineAlreadySubmitted as exc:
            # Another run took this line between our plan and our submit: it pays, we don't.
            self._release()
            return LineResult(line, SKIPPED, error=f"another gptimg run submitted this line: {exc.message}",
                              code=exc.code)
        except errors.RateLimited as exc:
            # Refused, nothing charged: everyone backs off, then this line tries again.
            self.gate.push(exc.retry_after if exc.retry_after is not None else min(30.0, 2.0**attempt))
            return None
        except errors.JournalUnavailable as exc:
            job_id = exc.details.get("job_id")
            if not isinstance(job_id, str):  # the row could not even be written: nothing was sent
                self._release()
                return LineResult.from_error(line, FAILED, exc)
            # Paid, and the id is in the fallback file: counted, reported with its id, fetchable.
            return LineResult.from_error(line, UNKNOWN, exc, job_id=job_id, credits_used=self._paid(line, job_id, None))
        except errors.SubmitOutcomeUnknown as exc:
            # The reservation stays: it may have been charged.
            return LineResult.from_error(line, UNKNOWN, exc)
        except (errors.InsufficientCredits, errors.AuthError) as exc:
            # Every later submit would fail the same way: stop submitting, keep polling.
            with self._lock:
                self._blocked = self._blocked or exc
            self._release()
            return LineResult.from_error(line, FAILED, exc)
        except errors.GptimgError as exc:
            self._release()
            return LineResult.from_error(line, FAILED, exc)
        return submitted.job_id, self._paid(line, submitted.job_id, submitted.credits_used, answered=True)

    def _submit_and_await(self, line: ManifestLine, seen_row: int = 0) -> LineResult | None:
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            if not self.limiter.acquire(self.stop) or self.stop.is_set():
                self._release()
                return LineResult(line, SKIPPED, error="interrupted before it was submitted", code="skipped")
            self.gate.wait()
            outcome = self._submit_once(line, attempt, seen_row)
            if isinstance(outcome, tuple):
                job_id, credits = outcome
                return self._await_job(line, job_id, credits_used=credits, counted=True)
            if outcome is not None:
                return outcome
        self._release()
        return LineResult(line, FAILED, error="The gateway kept refusing the submit as rate limited (nothing charged).",
                          code=errors.RateLimited.code)

    def _await_job(self, line: ManifestLine, job_id: str, *, credits_used: float | None,
                   counted: bool = False) -> LineResult | None:
        """The poll half (``await_job``, shared with ``generate``), then hand off the download.

        ``counted``: ``_paid`` already counted the job as running (this run submitted it)."""
        if not counted:
            with self._lock:
                self._running += 1
        try:
            record = self.journal.ensure_job(job_id, gateway=self.client.base_url)  # one read: poll and stamp
            items = await_job(self.client, self.journal, job_id, timeout=None, observer=SilentObserver(),
                              record=record, journal_items=False)
        except errors.JobNotFound as exc:
            # Maybe a passing fault: never failed, never resubmitted; a re-run (or `result`) asks again.
            return LineResult(
                line, UNKNOWN, job_id=job_id, error=exc.message, code=exc.code, credits_used=credits_used,
                hint=f"It is not submitted again. Ask again later: gptimg result {job_id} (or re-run the batch).",
            )
        except errors.JobFailed as exc:
            return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
        except errors.GptimgError as exc:
            exc.hint = "The job stays in the journal; a re-run of the batch fetches it for free."
            return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
        finally:
            with self._lock:
                self._running -= 1
        return self._hand_off(line, job_id, items, credits_used=credits_used, record=record, new_job=counted)

    def _hand_off(
        self, line: ManifestLine, job_id: str, items: list[dict[str, Any]], *, credits_used: float | None,
        record: JobRecord | None = None, new_job: bool = False,
    ) -> LineResult | None:
        """Queue the download so this worker can submit the next line at once; a thread is started when none is free."""
        self._downloads.put((line, job_id, items, credits_used, record, new_job))

    def _save(self, item: _DownloadItem) -> None:
        line, job_id, items, credits_used, record, new_job = item
        def saved(images: list[Any], failure: BaseException | None) -> None:  # reported once its row is written
            self._report(LineResult(line, DONE, job_id=job_id, files=[str(i.path) for i in images],
                                    credits_used=credits_used) if failure is None else
                         LineResult.from_error(line, FAILED, failure, job_id=job_id, credits_used=credits_used))
        try:  # the thread saves its next job at once: ``saved`` comes with the commit of this one's row
            save_job(self.client, self.journal, job_id, items, out_dir=self.settings.out_dir, label=line.label,
                     observer=SilentObserver(), record=record, on_journaled=saved, new_job=new_job)
        except BaseException as exc:  # reported, never lost in a download thread
            saved([], exc)

