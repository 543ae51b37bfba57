"""The batch scheduler: a fixed set of worker threads, each carrying one job from submit to saved files.

``concurrency`` workers means at most that many jobs in flight (submitted, not
yet finished), each with at most one long-poll open, all on the client's one
connection pool. The moment a job is done its download goes to a separate pool
(also ``concurrency`` wide) and the worker submits the next line, so saving
images never holds a submit slot; the pool therefore needs about
2 x concurrency connections. Submits additionally pass the rate limiter and
the shared backoff gate, so a 429 anywhere slows every worker, not just one.

Resuming is decided from the journal before anything runs: a line whose key
already has a job (submitted, running or done) is polled or fetched again, never
submitted; a line whose last submit has an unknown outcome is left for a person
(``gptimg jobs``), because it may have been paid. Only lines with no job, or
whose jobs were refused or failed, are submitted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from gptimg import errors
from gptimg.batch.manifest import ManifestLine
from gptimg.batch.ratelimit import RateLimiter
from gptimg.batch.report import ALREADY_DONE, DONE, FAILED, SKIPPED, UNKNOWN, LineResult, Tally
from gptimg.gateway import BackoffGate, GatewayClient
from gptimg.gateway.urls import is_loopback_host, origin
from gptimg.jobs import JobJournal, JobRecord, SilentObserver, finish_job, submit_job, wait_for_job
from gptimg.jobs import journal as journal_states
from gptimg.params import GenerationRequest
from gptimg.references import check_reference

#: What the runner will do with a line, decided from the journal before the run.
NEW = "new"  # submit (nothing paid yet, or earlier attempts were refused or failed)
RESUME = "resume"  # a job is paid for and not fetched yet: poll it
FETCH = "fetch"  # the job is done but its images are not in the output folder: download them
HAVE = "have"  # done, and the files are there: nothing to do
ATTENTION = "attention"  # a submit may have been charged without a job id: a person decides

#: A failed poll or download round is tried again this many times (all free) before the line fails.
FINISH_ATTEMPTS = 4
#: A submit answered 429 (nothing charged) is tried again after the backoff this many times.
SUBMIT_ATTEMPTS = 5

ResultListener = Callable[[LineResult], None]


@dataclass
class PlannedLine:
    line: ManifestLine
    kind: str
    record: JobRecord | None = None


@dataclass
class BatchSettings:
    out_dir: Path
    concurrency: int = 4
    #: Credits one submit costs (from the catalogue); used for the cap and the estimate.
    cost: float = 300
    #: Hard cap on credits this run commits to submits; None for no cap.
    max_credits: float | None = None
    #: Who the journal says submitted (an email or name, never a key).
    account: str | None = None


def _is_loopback_url(url: str) -> bool:
    return is_loopback_host(origin(url)[1])


def same_gateway(row_gateway: str, current: str) -> bool:
    """Whether a journal row's job can be used with the current gateway.

    A sandbox (loopback) job only counts on that very sandbox: a test run with
    ``--sandbox`` must never make the real run think its lines are done, and the
    sandbox must never be asked about (and mark failed) a real job. Real gateway
    hosts are aliases of one service, so they count for each other.
    """
    if row_gateway == current:
        return True
    return not _is_loopback_url(row_gateway) and not _is_loopback_url(current)


def _files_present(record: JobRecord, out_dir: Path) -> bool:
    if not record.files:
        return False
    folder = out_dir.resolve()
    for name in record.files:
        path = Path(name)
        if not path.is_file() or path.resolve().parent != folder:
            return False
    return True


def _same_request(record: JobRecord, line: ManifestLine) -> bool:
    """A row under this key asked for the same thing (a ``name`` reused with another prompt does not count)."""
    return (
        record.prompt == line.prompt
        and (record.style or None) == line.style
        and (record.size or None) == line.size
        and (record.n or 1) == line.n
    )


def plan_line(line: ManifestLine, rows: list[JobRecord], out_dir: Path, gateway: str) -> PlannedLine:
    """Decide from the key's journal rows (oldest first) what this run does with the line."""
    rows = [r for r in rows if _same_request(r, line) and same_gateway(r.gateway, gateway)]
    done = [r for r in rows if r.status == journal_states.DONE and r.job_id]
    if done:
        with_files = [r for r in done if _files_present(r, out_dir)]
        if with_files:
            return PlannedLine(line, HAVE, with_files[-1])
        return PlannedLine(line, FETCH, done[-1])
    open_rows = [r for r in rows if r.status in journal_states.OPEN_STATES and r.job_id]
    if open_rows:
        return PlannedLine(line, RESUME, open_rows[-1])
    doubtful = [r for r in rows if r.status in (journal_states.SUBMITTING, journal_states.UNKNOWN)]
    if doubtful:
        return PlannedLine(line, ATTENTION, doubtful[-1])
    return PlannedLine(line, NEW)


class BatchRunner:
    """Runs one manifest's lines; ``plan()`` first (for the confirmation), then ``start()`` or ``run()``."""

    def __init__(
        self,
        client: GatewayClient,
        journal: JobJournal,
        lines: list[ManifestLine],
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
        self._planned: list[PlannedLine] | None = None
        self._lock = threading.Lock()
        self._queue: deque[PlannedLine] = deque()
        self._results: list[LineResult] = []
        self._threads: list[threading.Thread] = []
        self._finished = threading.Event()
        #: Done jobs waiting to be saved; served by daemon threads so a hard exit never waits on them.
        self._downloads: queue.SimpleQueue[tuple[ManifestLine, str, float | None] | None] = queue.SimpleQueue()
        self._download_threads = 0
        #: Set by the first Ctrl-C: no new submits; paid jobs are still polled and fetched.
        self.stop = threading.Event()
        self._blocked: errors.GptimgError | None = None
        self._committed = 0.0
        self._running = 0
        self._spent = 0.0
        self._uploads: dict[str, str] = {}
        self._started = 0.0

    # --- before the run ---------------------------------------------------------------

    def plan(self) -> list[PlannedLine]:
        if self._planned is None:
            gateway = self.client.base_url
            self._planned = [
                plan_line(line, self.journal.for_batch_key(line.key), self.settings.out_dir, gateway)
                for line in self.lines
            ]
        return self._planned

    def count(self, kind: str) -> int:
        return sum(1 for p in self.plan() if p.kind == kind)

    def submits_allowed(self) -> int:
        """How many of the new lines fit under ``--max-credits``."""
        new = self.count(NEW)
        cap = self.settings.max_credits
        if cap is None or self.settings.cost <= 0:
            return new
        return min(new, int(cap // self.settings.cost))

    # --- the run ----------------------------------------------------------------------

    def start(self) -> None:
        """Report lines that need no work, then start the workers. Returns at once."""
        self._started = time.monotonic()
        plan = self.plan()
        for planned in plan:
            if planned.kind == HAVE:
                assert planned.record is not None
                self._report(LineResult(planned.line, ALREADY_DONE, job_id=planned.record.job_id,
                                        files=list(planned.record.files)))
            elif planned.kind == ATTENTION:
                record = planned.record
                assert record is not None
                self._report(LineResult(
                    planned.line, UNKNOWN, job_id=record.job_id,
                    error=f"An earlier submit for this line may have been charged but gave no job id "
                          f"(journal row {record.id}: {record.error or record.status}); it is not resubmitted.",
                    code=errors.SubmitOutcomeUnknown.code,
                    hint="Check `gptimg jobs` and your balance; to generate it anyway, give the line a new name.",
                ))
        # Paid jobs first: they cost nothing more and free their workers soonest.
        self._queue.extend(p for p in plan if p.kind in (RESUME, FETCH))
        self._queue.extend(p for p in plan if p.kind == NEW)
        workers = min(max(1, self.settings.concurrency), len(self._queue))
        if workers == 0:
            return
        with self._lock:
            self._download_threads = workers
        for number in range(workers):
            for target, name in ((self._worker, "batch"), (self._download_worker, "download")):
                thread = threading.Thread(target=target, name=f"gptimg-{name}-{number}", daemon=True)
                self._threads.append(thread)
                thread.start()

    def request_stop(self) -> None:
        """First Ctrl-C: no new submits from now on; jobs already paid for are still finished."""
        self.stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once every line has a result."""
        return self._finished.wait(timeout)

    def run(self) -> list[LineResult]:
        """``start`` and wait: the blocking form, for tests and library use."""
        self.start()
        self.wait()
        return self.results()

    def results(self) -> list[LineResult]:
        with self._lock:
            return sorted(self._results, key=lambda r: r.line.line)

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

    def abandon(self) -> int:
        """On the way out after a hard stop: no row may stay ``submitting``."""
        return self.journal.abandon_submitting("gptimg batch exited while the submit was in flight")

    # --- workers ----------------------------------------------------------------------

    def _report(self, result: LineResult) -> None:
        with self._lock:
            self._results.append(result)
            self.tally.add(result)
            last = len(self._results) == len(self.lines)
        if self.on_result is not None:
            self.on_result(result)
        if last:
            self._finished.set()
            for _ in range(self._download_threads):
                self._downloads.put(None)

    def _take(self) -> tuple[PlannedLine | None, str | None]:
        """The next line, and why it is skipped (None to run it); reserves a new line's credits."""
        with self._lock:
            if not self._queue:
                return None, None
            planned = self._queue.popleft()
            if planned.kind != NEW:
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
        if planned.kind == FETCH:
            assert planned.record is not None and planned.record.job_id is not None
            return self._hand_off(planned.line, planned.record.job_id, credits_used=None)
        if planned.kind == RESUME:
            assert planned.record is not None and planned.record.job_id is not None
            return self._await_job(planned.line, planned.record.job_id, credits_used=None)
        return self._submit_and_await(planned.line)

    def _reference_field(self, line: ManifestLine) -> str | None:
        """Upload local references once per batch (many lines often share one product photo)."""
        if not line.refs:
            return None
        locators: list[str] = []
        for ref in line.refs:
            with self._lock:
                known = self._uploads.get(ref)
            if known is None:
                checked = check_reference(ref, strict=True)
                if checked.needs_upload:
                    assert checked.data is not None and checked.media_type is not None
                    known = self.client.upload(checked.data, checked.media_type)
                else:
                    assert checked.locator is not None
                    known = checked.locator
                with self._lock:
                    self._uploads[ref] = known
            locators.append(known)
        return ",".join(locators)

    def _claimed_elsewhere(self, line: ManifestLine) -> Callable[[JobRecord], bool]:
        """A journal row that means this line is already paid for (or may be): the planner's rule."""
        gateway = self.client.base_url
        taken = (*journal_states.OPEN_STATES, journal_states.DONE, journal_states.SUBMITTING, journal_states.UNKNOWN)

        def claimed(record: JobRecord) -> bool:
            return record.status in taken and _same_request(record, line) and same_gateway(record.gateway, gateway)

        return claimed

    def _submit_and_await(self, line: ManifestLine) -> LineResult | None:
        request = GenerationRequest(prompt=line.prompt, size=line.size, n=line.n, style=line.style,
                                    references=line.refs)
        for attempt in range(1, SUBMIT_ATTEMPTS + 1):
            if not self.limiter.acquire(self.stop) or self.stop.is_set():
                self._release()
                return LineResult(line, SKIPPED, error="interrupted before it was submitted", code="skipped")
            self.gate.wait()
            try:
                reference_field = self._reference_field(line)
                submitted = submit_job(
                    self.client, self.journal, request,
                    reference_field=reference_field, account=self.settings.account,
                    out_dir=self.settings.out_dir, batch_key=line.key, name=line.name,
                    conflicts=self._claimed_elsewhere(line),
                )
            except errors.LineAlreadySubmitted as exc:
                # Another run took this line between our plan and our submit: it pays, we don't.
                self._release()
                return LineResult(line, SKIPPED, error=f"another gptimg run submitted this line: {exc.message}",
                                  code=exc.code)
            except errors.RateLimited as exc:
                # Refused, nothing charged: everyone backs off, then this line tries again.
                self.gate.push(exc.retry_after if exc.retry_after is not None else min(30.0, 2.0 ** attempt))
                if attempt == SUBMIT_ATTEMPTS:
                    self._release()
                    return LineResult.from_error(line, FAILED, exc)
                continue
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
            credits = submitted.credits_used if submitted.credits_used is not None else self.settings.cost
            with self._lock:
                self.tally.submits += 1
                self._spent += credits
            return self._await_job(line, submitted.job_id, credits_used=credits)
        raise AssertionError("unreachable")

    def _await_job(self, line: ManifestLine, job_id: str, *, credits_used: float | None) -> LineResult | None:
        """Long-poll until the job ends (free; transient trouble gets a few more rounds), then hand off the download.

        The journal is kept exactly as ``finish_job`` keeps it, so the download
        step (``finish_job`` on a job the journal has as done) only fetches.
        """
        with self._lock:
            self._running += 1
        try:
            for attempt in range(1, FINISH_ATTEMPTS + 1):
                try:
                    data = wait_for_job(
                        self.client, job_id, timeout=None, observer=SilentObserver(),
                        on_first_answer=lambda: self.journal.mark_running(job_id),
                    )
                except (errors.JobFailed, errors.JobNotFound) as exc:
                    self.journal.mark_error(job_id, exc.message)
                    return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
                except errors.AuthError as exc:
                    return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
                except errors.GptimgError as exc:
                    if attempt == FINISH_ATTEMPTS:
                        return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
                    # The client already retried within this round; wait longer before the next one.
                    time.sleep(min(30.0, 2.0**attempt))
                    continue
                self.journal.mark_done(job_id, data["items"])
                break
        finally:
            with self._lock:
                self._running -= 1
        return self._hand_off(line, job_id, credits_used=credits_used)

    def _hand_off(self, line: ManifestLine, job_id: str, *, credits_used: float | None) -> LineResult | None:
        """Queue the download so this worker can submit the next line at once."""
        self._downloads.put((line, job_id, credits_used))
        return None

    def _download_worker(self) -> None:
        while True:
            item = self._downloads.get()
            if item is None:
                return
            line, job_id, credits_used = item
            try:
                result = self._download(line, job_id, credits_used)
            except BaseException as exc:  # reported, never lost in a download thread
                result = LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
            self._report(result)

    def _download(self, line: ManifestLine, job_id: str, credits_used: float | None) -> LineResult:
        """Save a done job's images (``finish_job`` on a done job only downloads; free, safe to repeat)."""
        for attempt in range(1, FINISH_ATTEMPTS + 1):
            try:
                outcome = finish_job(
                    self.client, self.journal, job_id,
                    out_dir=self.settings.out_dir, timeout=None, observer=SilentObserver(), label=line.label,
                )
            except (errors.JobFailed, errors.JobNotFound, errors.OutputNotWritable, errors.AuthError) as exc:
                return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
            except errors.GptimgError as exc:
                if attempt == FINISH_ATTEMPTS:
                    return LineResult.from_error(line, FAILED, exc, job_id=job_id, credits_used=credits_used)
                time.sleep(min(30.0, 2.0**attempt))
                continue
            return LineResult(line, DONE, job_id=job_id, files=[str(i.path) for i in outcome.images],
                              credits_used=credits_used)
        raise AssertionError("unreachable")
