"""``gptimg batch``: one manifest, one confirmation, many concurrent jobs, resumable at any point.

The command is the thin face over ``gptimg.batch``: it validates the whole
manifest offline (exit 2, nothing spent), builds one client whose pool and
backoff gate every job shares, asks once for the whole spend, then drives the
runner from the main thread — which alone prints (progress, ``--json`` lines)
and handles Ctrl-C: the first stops new submits and lets paid jobs finish, the
second leaves at once (the journal keeps everything for the next run).
"""

from __future__ import annotations

import queue
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.cli.batch_text import dry_run_lines, dry_run_report, line_label, progress_counts, summary_counts
from gptimg.cli.confirm import confirm_spend
from gptimg.cli.jobflow import resolve_out_dir
from gptimg.cli.session import sandbox_delay

if TYPE_CHECKING:
    from gptimg.batch.manifest import ManifestLine
    from gptimg.batch.runner import BatchRunner
    from gptimg.gateway import BackoffGate, GatewayClient

#: Failed/skipped lines listed one by one in the human summary; the rest are counted.
MAX_LISTED_PROBLEMS = 20


class _Progress:
    """One overall bar on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self._bar: Any = None
        if not session.output.err.is_terminal:
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("[bold]batch[/]"), BarColumn(bar_width=20), MofNCompleteColumn(), TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(), console=session.output.err, transient=False,
        )
        self._task = self._bar.add_task("batch", total=total, counts="")
        self._bar.start()

    def update(self, counts: dict[str, float]) -> None:
        if self._bar is None:
            return
        text = progress_counts(counts)
        self._bar.update(self._task, completed=counts["finished"], counts=text)

    def stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


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
    problems = [r for r in runner.results() if not r.succeeded]
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


def _show_dry_run(lines: list[ManifestLine], **plan: Any) -> None:
    report = dry_run_report(lines, **plan)

    def human() -> None:
        for text in dry_run_lines(report):
            session.output.out.print(text, markup=False, highlight=False)

    session.output.success(report, meta={"credits_used": 0}, human=human)


@app.command("batch")
def batch(
    manifest: str = typer.Argument(
        ..., metavar="MANIFEST", help="JSONL, CSV or .txt (one prompt per line, # comments) file; - reads stdin."
    ),
    concurrency: int = typer.Option(4, "--concurrency", "-c", min=1, max=512, metavar="N",
                                    help="Jobs in flight at once (submitted, not yet finished)."),
    rate_limit: int = typer.Option(60, "--rate-limit", min=0, metavar="CALLS_PER_MIN",
                                     help="At most this many submits in any 60 s; 0 turns it off."),
    out: Optional[str] = typer.Option(None, "--out", "-o", metavar="DIR", help="Save into DIR (default: here)."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Spend the credits without asking (agents: ask first)."),
    max_credits: Optional[float] = typer.Option(None, "--max-credits", min=0, metavar="N",
                                                help="Never commit more than N credits; later lines are skipped."),
    sandbox: bool = typer.Option(False, "--sandbox", help="Run against an embedded local sandbox (no real credits)."),
    manifest_format: Optional[str] = typer.Option(None, "--format", metavar="jsonl|csv|txt",
                                                  help="Manifest format (default: by extension, else by content)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Show the plan and its cost; submit nothing, spend nothing."),
) -> None:
    """Generate many images from a manifest (JSONL, CSV or .txt): concurrent, rate-limited, resumable."""
    from gptimg.batch.manifest import load_manifest
    from gptimg.gateway import BackoffGate, GatewayClient, RetryPolicy
    from gptimg.styles import DEFAULT_SUBMIT_COST

    # 1. Offline: every line checked, the output folder usable. A mistake here costs nothing.
    if manifest_format is not None and manifest_format not in ("jsonl", "csv", "txt"):
        raise errors.BadInput(f"--format must be jsonl, csv or txt, not {manifest_format!r}.", code="usage")
    lines = load_manifest(manifest, fmt=manifest_format)
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
    client = GatewayClient(
        session.base_url(), session.api_key(), retry=RetryPolicy(gate=gate),
        max_connections=max(100, 2 * concurrency + 4),
    )
    try:
        _run(client, gate, lines, out_dir, concurrency=concurrency, rate_limit=rate_limit, yes=yes,
             max_credits=max_credits, sandbox=sandbox, manifest=manifest, dry_run=dry_run)
    finally:
        client.close()


def _run(client: GatewayClient, gate: BackoffGate, lines: list[ManifestLine], out_dir: Path, *, concurrency: int, rate_limit: int,
         yes: bool, max_credits: float | None, sandbox: bool, manifest: str, dry_run: bool = False) -> None:
    """Everything after the client exists: plan, confirm, run, report."""
    from gptimg.batch.contact_sheet import write_contact_sheet
    from gptimg.batch.ratelimit import RateLimiter
    from gptimg.batch.runner import FETCH, NEW, RESUME, BatchRunner, BatchSettings
    from gptimg.cli.pricing import read_cost_and_balance

    output = session.output
    journal = session.journal()
    cost, balance = read_cost_and_balance(client)
    events: queue.Queue[Any] = queue.Queue()
    runner = BatchRunner(
        client, journal, lines,
        BatchSettings(out_dir=out_dir, concurrency=concurrency, cost=cost, max_credits=max_credits,
                      account=session.account_label()),
        limiter=RateLimiter(rate_limit), gate=gate, on_result=events.put,
    )

    # 3. The one question: how many submits, what they cost, what the balance is.
    new, allowed = runner.count(NEW), runner.submits_allowed()
    resumed = runner.count(RESUME) + runner.count(FETCH)
    have = len(lines) - new - resumed
    plan_text = (f"{len(lines)} lines: {allowed} to submit, {resumed} already submitted (fetched, free), "
                 f"{have} already done or needing attention")
    if new > allowed:
        plan_text += f", {new - allowed} skipped by --max-credits"
    if dry_run:
        _show_dry_run(lines, plan=plan_text, to_submit=allowed, cost=cost, balance=balance, out_dir=out_dir)
        return
    if not allowed or yes:
        output.info(f"[dim]{plan_text}.[/]")  # otherwise the confirmation shows it: once is enough
    if allowed:
        total = allowed * cost
        if balance is not None and balance < total:
            raise errors.InsufficientCredits(
                f"This batch needs {total:g} credits ({allowed} × {cost:g}) and the balance is {balance:g}. "
                "Nothing was submitted.",
                hint=f"Top up, or cap the spend: --max-credits {int(balance // cost * cost) if cost else 0}",
            )
        summary = [("manifest", manifest), ("lines", plan_text), ("per image job", f"{cost:g} credits"),
                   ("save into", str(out_dir)), ("account", session.account_label() or "?")]
        if sandbox:
            summary.append(("gateway", "embedded sandbox (test credits)"))
        confirm_spend(output, summary=summary, cost=total, balance=balance, yes=yes)

    # 4. Run; the main thread prints and handles Ctrl-C.
    presses = 0
    in_main = threading.current_thread() is threading.main_thread()

    def on_sigint(signum: int, frame: Any) -> None:
        nonlocal presses
        presses += 1
        if presses > 1:
            raise KeyboardInterrupt()
        runner.request_stop()
        # Plain write: rich's console lock may be held by the interrupted frame.
        import sys

        sys.stderr.write("\nStopping: no new submits; finishing the jobs already paid for. "
                         "Ctrl-C again to leave now (the journal keeps them).\n")
        sys.stderr.flush()

    previous = signal.signal(signal.SIGINT, on_sigint) if in_main else None
    progress = _Progress(len(lines))
    started = time.monotonic()
    hard_stop = False
    terminated = False

    def emit(result: Any) -> None:
        if output.json_mode:
            output.emit_json(result.to_dict())
        progress.update(runner.snapshot())

    try:
        runner.start()
        reported = 0
        while reported < len(lines):
            try:
                result = events.get(timeout=0.5)
            except queue.Empty:
                progress.update(runner.snapshot())
                continue
            reported += 1
            emit(result)
    except (KeyboardInterrupt, errors.Terminated) as exc:
        hard_stop = True
        terminated = isinstance(exc, errors.Terminated)
        runner.request_stop()
        runner.abandon()
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
        progress.stop()
    if hard_stop:
        # Whatever finished in the meantime is reported; the rest stays in the journal.
        while True:
            try:
                emit(events.get_nowait())
            except queue.Empty:
                break

    # 5. The contact sheet and the summary, both times.
    wall = time.monotonic() - started
    results = runner.results()
    index: Path | None = None
    if any(r.files for r in results):
        try:
            index = write_contact_sheet(results, out_dir, title=f"gptimg batch: {Path(manifest).name}")
        except OSError as exc:
            output.warn(f"Could not write the contact sheet: {exc}")
    interrupted = presses > 0 or hard_stop
    tally = runner.tally
    code = errors.EXIT_TERMINATED if terminated else tally.exit_code(interrupted=interrupted)
    if output.json_mode:
        data: dict[str, Any] = tally.to_dict()
        data.update(credits_used=runner.snapshot()["credits"], out_dir=str(out_dir),
                    index_html=str(index) if index else None, wall_seconds=round(wall, 3),
                    interrupted=interrupted, unfinished=tally.total - tally.finished)
        output.emit_json({"success": code == errors.EXIT_OK, "data": data, "exit_code": code})
    else:
        _summary(runner, out_dir, index, wall, interrupted)
    if code != errors.EXIT_OK:
        raise typer.Exit(code)
