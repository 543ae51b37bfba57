"""``gptimg batch``: one manifest, one confirmation, many concurrent jobs, resumable at any point.

:func:`run_batch` is the command's body, without Typer: ``batch_cmd`` registers it
with Typer from the table of its arguments (``batch_options``), and a spelled-out
line reaches it without Typer (``quick_line``). It is the thin face over ``gptimg.batch``: it validates the whole
manifest offline (exit 2, nothing spent), checks the journal, builds one client
whose pool and backoff gate every job shares, shows the plan (``batch/plan.py``)
and asks once for the whole spend, then drives the runner from the main thread,
which alone prints (progress, ``--json`` lines) and handles signals.

Signals: the first Ctrl-C stops new submits and lets paid jobs finish (exit 130).
A second Ctrl-C, or SIGTERM, leaves, but only once the submits already sent
have answered (at most ``SUBMIT_ANSWER_WAIT`` s, said on stderr), so each paid
job's id is in the journal and named on the way out; one more signal leaves at once.
"""

from __future__ import annotations

import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from gptimg import errors
from gptimg.cli.batch_text import (
    dry_run_lines,
    dry_run_report,
    forgotten_hint,
    line_label,
    new_images_question,
    progress_counts,
    rerun_command,
    summary_counts,
)
from gptimg.cli.confirm import confirm_spend
from gptimg.cli.jobflow import resolve_out_dir
from gptimg.cli.session import sandbox_delay, session
from gptimg.jobs.signals import SUBMIT_ANSWER_WAIT
from gptimg.redaction import JsonText

if TYPE_CHECKING:
    from collections.abc import Sequence

    from gptimg.batch.manifest import ManifestLine
    from gptimg.batch.report import LineResult
    from gptimg.batch.runner import BatchRunner
    from gptimg.gateway import BackoffGate, GatewayClient

#: Failed/skipped lines listed one by one in the human summary; the rest are counted.
MAX_LISTED_PROBLEMS = 20


class _Progress:
    """One overall bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        #: Whether the bar is drawn: an attribute, not a property, as it is read once per line.
        self.shown = False
        if not session.output.err.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]batch[/]"), BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), console=session.output.err, transient=False,
        )
        self._task = self._bar.add_task("batch", total=total, counts="")
        self._bar.start()
        self.shown = True

    def update(self, counts: dict[str, float]) -> None:
        if self._bar is None:
            return
        text = progress_counts(counts)
        self._bar.update(self._task, completed=counts["finished"], counts=text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
            self.shown = False


def _summary(runner: BatchRunner, out_dir: Path, index: Path | None, wall: float, interrupted: bool) -> None:
    """Human form: a totals table on stdout, then the lines that need a look."""
    from rich.markup import escape
    from rich.table import Table

    tally = runner.tally
    table = Table(show_header=False, box=None, pad_edge=False, title="batch summary", title_justify="left")
    table.add_column(style="bold")
    table.add_column()
    rows = [(label, escape(value)) for label, value in summary_counts(tally)]
    rows += [
        ("credits spent", f"{runner.snapshot()['credits']:g}"),
        ("time", f"{wall:.1f} s"),
        ("images in", escape(str(out_dir.resolve()))),
    ]
    if index is not None:
        rows.append(("contact sheet", escape(str(index.resolve()))))
    if interrupted:
        rows.append(("interrupted", "yes: run the same command again to finish (nothing is paid twice)"))
    for label, value in rows:
        table.add_row(label, value)
    session.output.out.print(table)
    unsettled = runner.outcomes().unsettled()  # kept in memory: no line with images is read back
    forgotten = [r for r in unsettled if r.code == errors.JobNotFound.code]
    problems = [r for r in unsettled if r.code != errors.JobNotFound.code]
    for result in forgotten:  # one unwrapped line each, so the command can be copied whole
        session.output.out.print(f"line {result.line.line} ({line_label(result.line)}): {result.hint}",
                                 markup=False, highlight=False, soft_wrap=True)
    if problems:
        listing = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
        for column in ("line", "name", "status", "job", "why"):
            listing.add_column(column)
        for result in problems[:MAX_LISTED_PROBLEMS]:
            listing.add_row(str(result.line.line), escape(line_label(result.line)), result.status,
                            escape(result.job_id or ""), escape(result.error or ""))
        session.output.out.print(listing)
        if len(problems) > MAX_LISTED_PROBLEMS:
            session.output.out.print(f"... and {len(problems) - MAX_LISTED_PROBLEMS} more (see --json).")


def run_batch(*, manifest: str, concurrency: int, rate_limit: int, out: Optional[str], yes: bool,
              max_credits: Optional[float], sandbox: bool, manifest_format: Optional[str], resubmit_failed: bool,
              new_images: bool, dry_run: bool) -> int:
    """Generate many images from a manifest (the arguments and their defaults: ``batch_options``); the exit code."""
    from gptimg.batch.manifest_spill import spill_manifest
    from gptimg.gateway import BackoffGate, GatewayClient, RetryPolicy
    from gptimg.image_tool import DEFAULT_SUBMIT_COST

    # 1. Offline: every line checked, the output folder usable. A mistake here costs nothing.
    if manifest_format is not None and manifest_format not in ("jsonl", "csv", "txt"):
        raise errors.UsageError(f"--format must be jsonl, csv or txt, not {manifest_format!r}.")
    lines = spill_manifest(manifest, fmt=manifest_format)  # read once; the run reads the checked copy, on disk
    out_dir = resolve_out_dir(out)
    delay = sandbox_delay() if sandbox else None

    # 2. One client for the whole batch: one pool sized for the workers, one shared backoff gate.
    if sandbox:
        from gptimg.sandbox import SandboxConfig

        # Enough test credits for the whole manifest, so a sandbox run shows the real flow.
        credits = max(SandboxConfig().credits, DEFAULT_SUBMIT_COST * len(lines))
        session.use_sandbox(delay=delay, credits=credits)
        session.output.info(f"[dim]Sandbox gateway at {session.base_url()} (test credits, nothing real).[/]")
    gate = BackoffGate()
    base_url, api_key = session.base_url(), session.api_key()
    client = _ClientWhenNeeded(base_url, lambda: GatewayClient(
        base_url, api_key, retry=RetryPolicy(gate=gate), max_connections=max(100, 2 * concurrency + 4),
    ))
    try:
        return _run(client, gate, lines, out_dir, concurrency=concurrency, rate_limit=rate_limit, yes=yes,
                    max_credits=max_credits, sandbox=sandbox, manifest=manifest, resubmit_failed=resubmit_failed,
                    dry_run=dry_run, new_images=new_images)
    finally:
        client.close()


class _ClientWhenNeeded:
    """The batch's one ``GatewayClient``, built the first time a line needs the gateway.

    Building it loads the wire (httpx: ~150 ms of a re-run's 1.4 s); a re-run whose lines are
    all done plans from the journal, which only needs the gateway's URL, and never loads it.
    """

    def __init__(self, base_url: str, build: Callable[[], GatewayClient]) -> None:
        self.base_url = base_url
        self._build = build
        self._client: GatewayClient | None = None
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        with self._lock:  # the runner's workers may all reach for it at once
            if self._client is None:
                self._client = self._build()
        return getattr(self._client, name)

    @property
    def built(self) -> bool:
        return self._client is not None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _say(text: str) -> None:
    """Plain write to stderr: safe inside a signal handler, where rich's console lock may be held."""
    try:
        sys.stderr.write(text)
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class _Signals:
    """Ctrl-C and SIGTERM while a batch runs: handlers only record and stop new submits; the loop acts."""

    def __init__(self, runner: BatchRunner) -> None:
        self.runner = runner
        self.presses = 0
        self.terminated = False
        self.leave_now = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Signals:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    @property
    def stopping(self) -> bool:
        """Leave once the submits in flight have answered (SIGTERM, or a second Ctrl-C)."""
        return self.terminated or self.presses > 1

    @property
    def interrupted(self) -> bool:
        return self.terminated or self.presses > 0

    def _on_signal(self, signum: int, frame: Any) -> None:
        was_stopping = self.stopping
        if signum == signal.SIGTERM:
            self.leave_now = self.terminated
            self.terminated = True
        else:
            self.presses += 1
            self.leave_now = self.presses > 2
        self.runner.request_stop()
        if self.presses == 1 and not self.terminated:
            _say("\nStopping: no new submits; finishing the jobs already paid for. "
                 "Ctrl-C again to leave (the journal keeps them).\n")
        elif self.stopping and was_stopping:
            _say("\nLeaving now; a submit still in flight is recorded as 'unknown' (see gptimg jobs).\n")


def _confirm(runner: BatchRunner, balance: float | None, *, manifest: str, out_dir: Path, sandbox: bool,
             yes: bool) -> None:
    """Show the plan; the balance rule and the one question, when anything is to be paid for."""
    plan = runner.batch_plan
    if not plan.allowed or yes:
        session.output.info(f"[dim]{plan.text()}.[/]")  # otherwise the confirmation shows it: once is enough
    if not plan.allowed:
        return
    plan.check_balance(balance)
    _confirm_new_images(runner, yes=yes)
    summary = [("manifest", manifest), ("lines", plan.text()), ("per image job", f"{plan.cost:g} credits"),
               ("save into", str(out_dir)), ("account", session.account_label() or "?")]
    if sandbox:
        summary.append(("gateway", "embedded sandbox (test credits)"))
    confirm_spend(session.output, summary=summary, cost=plan.total_cost, balance=balance, yes=yes)


def _confirm_new_images(runner: BatchRunner, *, yes: bool) -> None:
    """``--new-images`` has its own question, before the spend's: paying again for lines that have images."""
    plan = runner.batch_plan
    if not plan.renewing or yes:
        return
    question = new_images_question(plan.renewing, plan.cost)
    if not sys.stdin.isatty():
        raise errors.ConfirmationRequired(f"Refusing without confirmation (stdin is not a terminal): {question}")
    from gptimg.cli.confirm import ask_yes_no

    if not ask_yes_no(session.output, question):
        raise errors.Declined("Nothing was spent.")


def _show_dry_run(runner: BatchRunner, lines: Sequence[ManifestLine], balance: float | None, out_dir: Path) -> None:
    """``--dry-run``: the plan and what it would cost; nothing is submitted."""
    plan = runner.batch_plan
    report = dry_run_report(lines, plan=plan.text(), to_submit=plan.allowed, cost=plan.cost, balance=balance,
                            out_dir=out_dir)

    def human() -> None:
        for text in dry_run_lines(report):
            session.output.out.print(text, markup=False, highlight=False)

    session.output.success(report, meta={"credits_used": 0}, human=human)


def _drive(runner: BatchRunner, events: queue.SimpleQueue[Any], signals: _Signals, total: int) -> None:
    """Start the runner and print each line's result until all are in or a signal says leave."""
    output = session.output
    progress = _Progress(total)

    def emit(result: LineResult) -> None:
        if result.code == errors.JobNotFound.code:
            result.hint = forgotten_hint(result.job_id, rerun_command(sys.argv[1:], "--resubmit-failed"))
        if output.json_mode:  # written once no other result is waiting: every line is out before the loop waits
            text = result.json_text()  # an "already done" line from a template; masked like any other
            output.emit_json(result.to_dict() if text is None else JsonText(text, result.to_dict), flush=events.empty())
        if progress.shown:
            progress.update(runner.snapshot())

    try:
        runner.start()
        reported = 0
        while reported < total and not signals.stopping:
            try:
                result = events.get(timeout=0.2)
            except queue.Empty:
                progress.update(runner.snapshot())
                continue
            reported += 1
            emit(result)
    finally:
        output.flush()
        progress.stop()
    if signals.stopping:
        _settle_submits(runner, signals)
        while True:  # whatever finished meanwhile is reported; the rest stays in the journal
            try:
                emit(events.get_nowait())
            except queue.Empty:
                break
        output.flush()


def _settle_submits(runner: BatchRunner, signals: _Signals) -> None:
    """Before leaving: let the submits in flight answer (bounded), so their ids are journaled, then name them."""
    in_flight = runner.submits_in_flight()
    if in_flight and not signals.leave_now:
        _say(f"Waiting up to {SUBMIT_ANSWER_WAIT} s for {in_flight} submit(s) in flight to answer, so their "
             "job ids are kept (signal again to leave at once).\n")
        runner.wait_for_submits(SUBMIT_ANSWER_WAIT + 5, lambda: signals.leave_now)
    runner.abandon()
    jobs = runner.open_jobs()
    if jobs:
        _say(f"Stopped. {len(jobs)} paid job(s) keep running on the gateway: {', '.join(jobs)}. "
             "Run the same command again to fetch them (nothing is paid twice), or: gptimg result JOB_ID\n")


def _run(client: GatewayClient, gate: BackoffGate, lines: Sequence[ManifestLine], out_dir: Path, *, concurrency: int,
         rate_limit: int, yes: bool, max_credits: float | None, sandbox: bool, manifest: str,
         resubmit_failed: bool, dry_run: bool = False, new_images: bool = False) -> int:
    """Everything after the client exists: plan, confirm, run, report; the exit code."""
    from gptimg.batch.ratelimit import RateLimiter
    from gptimg.batch.runner import BatchRunner, BatchSettings
    from gptimg.cli.pricing import read_cost_and_balance
    from gptimg.image_tool import DEFAULT_SUBMIT_COST

    journal = session.journal()
    journal.check_ready()
    events: queue.SimpleQueue[Any] = queue.SimpleQueue()  # C: a re-run puts 5,000 results in one go
    runner = BatchRunner(
        client, journal, lines,
        BatchSettings(out_dir=out_dir, concurrency=concurrency, cost=DEFAULT_SUBMIT_COST, max_credits=max_credits,
                      account=session.account_label(), resubmit_failed=resubmit_failed, new_images=new_images),
        limiter=RateLimiter(rate_limit), gate=gate, on_result=events.put,
    )
    # The plan comes from the journal alone. The price and the balance (two requests) matter only when
    # something may be paid for, or to show a dry run; a re-run with nothing to submit skips them.
    plan = runner.batch_plan
    balance: float | None = None
    if plan.wanted or dry_run:
        cost, balance = read_cost_and_balance(client)
        runner.settings.cost = plan.cost = cost  # before any cap, confirmation or submit reads it
    if dry_run:
        _show_dry_run(runner, lines, balance, out_dir)
        return errors.EXIT_OK
    _confirm(runner, balance, manifest=manifest, out_dir=out_dir, sandbox=sandbox, yes=yes)
    started = time.monotonic()
    with _Signals(runner) as signals:
        _drive(runner, events, signals, len(lines))
    return _report(runner, out_dir, manifest, time.monotonic() - started, signals)


def _report(runner: BatchRunner, out_dir: Path, manifest: str, wall: float, signals: _Signals) -> int:
    """The contact sheet and the summary, however the run ended; the exit code."""
    from gptimg.batch.contact_sheet import write_contact_sheet

    output = session.output
    results = runner.outcomes()  # rebuilt line by line as the sheet is written: nothing per line is held
    index: Path | None = None
    if any(r.files for r in results):
        try:
            index = write_contact_sheet(results, out_dir, title=f"gptimg batch: {Path(manifest).name}")
        except OSError as exc:
            output.warn(f"Could not write the contact sheet: {exc}")
    tally = runner.tally
    code = errors.EXIT_TERMINATED if signals.terminated else tally.exit_code(interrupted=signals.interrupted)
    if output.json_mode:
        data: dict[str, Any] = tally.to_dict()
        data.update(credits_used=runner.snapshot()["credits"], out_dir=str(out_dir),
                    index_html=str(index) if index else None, wall_seconds=round(wall, 3),
                    interrupted=signals.interrupted, unfinished=tally.total - tally.finished,
                    running_jobs=runner.open_jobs())
        output.emit_json({"success": code == errors.EXIT_OK, "data": data, "exit_code": code})
    else:
        _summary(runner, out_dir, index, wall, signals.interrupted)
    return code
