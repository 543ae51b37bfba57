"""``gptimg generate``: validate, confirm the spend, submit once, wait, save.

The order is the point. Everything that can be checked offline is checked
before any connection (so a typo costs nothing and sends nothing); the cost and
balance are read (free) and confirmed before the one paid request; the journal
has a row before that request leaves; and from the submit on, every way out
names the job and the command that fetches it.

This module loads no Typer: ``generate_cmd`` (the Typer command) and
``fast_generate`` (a spelled-out line read without Typer) both call
:func:`run_generate` with the same keyword arguments.
"""

from __future__ import annotations

import json
import math
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Optional

from gptimg import errors
from gptimg.balance import confirmation_rows, spendable_credits
from gptimg.cli.confirm import confirm_spend
from gptimg.cli.generate_input import (
    check_image_count,
    finish_line,
    friendly_size,
    friendly_style,
    read_prompt,
)
from gptimg.cli.jobflow import (
    InFlight,
    fetch_job,
    job_in_flight,
    report_outcome,
    resume_command,
)
from gptimg.cli.pricing import read_cost_and_account
from gptimg.cli.session import sandbox_delay, session
from gptimg.image_tool import SUBMIT_TOOL
from gptimg.jobs.signals import SUBMIT_ANSWER_WAIT

if TYPE_CHECKING:
    from pathlib import Path

    from gptimg.jobs.targets import OutputTarget
    from gptimg.references import Reference


def _on_hold() -> None:
    # Runs inside a signal handler: plain write, no rich (its console lock may be held right now).
    sys.stderr.write(
        f"\nFinishing the submit so the paid job is not lost (waiting up to {SUBMIT_ANSWER_WAIT} s for its answer)...\n"
    )
    sys.stderr.flush()


def _dry_run(arguments: dict[str, Any], uploads: list[str], out_dir: Path, sandbox: bool, paths: list[Path]) -> None:
    data = {
        "dry_run": True,
        "tool": SUBMIT_TOOL,
        "arguments": arguments,
        "uploads": uploads,
        "out_dir": str(out_dir),
        "paths": [str(path) for path in paths],
        "sandbox": sandbox,
        "note": "Nothing was sent and nothing was spent; the price is read from the catalogue on a real run.",
    }

    def human() -> None:
        session.output.info("[bold]Dry run[/]: nothing was sent, nothing was spent. This would be submitted:")
        session.output.out.print(f"tool: {SUBMIT_TOOL}", markup=False)
        session.output.out.print(
            "arguments: " + json.dumps(arguments, ensure_ascii=False, indent=2), markup=False, highlight=False
        )
        for path in uploads:
            session.output.out.print(f"upload first: {path}", markup=False)
        for path in paths:
            session.output.out.print(f"would write: {path}", markup=False)

    session.output.success(data, meta={"credits_used": 0}, human=human)


def _checked_references(values: list[str]) -> list[Reference]:
    """``--ref`` values checked offline (``gptimg.references`` is loaded only when there are some)."""
    if not values:
        return []
    from gptimg.references import check_references

    return check_references(values, strict=True)


def _uploaded_references(references: list[Reference], upload: Callable[[bytes, str], str]) -> str:
    from gptimg.references import upload_references

    return upload_references(references, upload)


def _output_target(out: Optional[str], overwrite: bool, request_n: int, label: str, style: Optional[str]) -> OutputTarget:
    """``-o`` as a folder, file or pattern; a taken name or a missing converter stops here, before any spend."""
    from gptimg.jobs.targets import parse_target

    target = parse_target(out, overwrite=overwrite)
    target.require_converter()
    target.refuse_existing(request_n, label=label, style=style)
    return target


def run_generate(
    prompt: Optional[str],
    prompt_file: Optional[str],
    style: Optional[str],
    size: Optional[str],
    n: Optional[int],
    refs: Optional[list[str]],
    out: Optional[str],
    overwrite: bool,
    yes: bool,
    no_wait: bool,
    timeout: float,
    dry_run: bool,
    sandbox: bool,
    open_files: bool,
) -> None:
    """Generate images: confirm the cost, submit, wait with progress, save them where -o says."""
    from gptimg.cli.progress import JobProgress
    from gptimg.jobs import submit_job
    from gptimg.jobs.pipeline import SubmittedJob
    from gptimg.params import build_request

    # 1. Offline checks: a mistake here sends nothing and spends nothing.
    text = read_prompt(prompt, prompt_file)
    check_image_count(n)
    request = build_request(
        text, size=friendly_size(size), n=n, style=friendly_style(style), references=list(refs or ())
    )
    references = _checked_references(list(request.references))
    target = _output_target(out, overwrite, request.n, request.prompt, request.style)
    out_dir = target.directory
    if not (timeout >= 0 and math.isfinite(timeout)):
        raise errors.UsageError(f"--timeout must be a number of seconds >= 0, not {timeout!r}.")
    if sandbox and no_wait:
        raise errors.UsageError(
            "--no-wait cannot be combined with --sandbox: the embedded sandbox stops when this command ends.",
        )
    delay = sandbox_delay() if sandbox else None
    uploads = [ref.original for ref in references if ref.needs_upload]
    if dry_run:
        preview = ",".join(ref.locator or f"<upload {ref.original}>" for ref in references) or None
        paths = target.planned_paths(request.n, label=request.prompt, style=request.style)
        _dry_run(request.arguments(preview), uploads, out_dir, sandbox, paths)
        return

    # 2. The journal must take the job before anything is sent; then who pays, how much, and do they agree.
    if sandbox:
        session.use_sandbox(delay=delay)
        session.output.info(f"[dim]Sandbox gateway at {session.base_url()} (test credits, nothing real).[/]")
    journal = session.journal()
    journal.check_ready()
    client = session.client()
    cost, me = read_cost_and_account(client)
    balance = spendable_credits(me)
    summary = [("prompt", request.prompt), ("style", request.style or "(none)"), ("size", request.size)]
    summary.append(("images", str(request.n)))
    if references:
        summary.append(("references", ", ".join(ref.original for ref in references)))
    summary.append(("account", session.account_label() or "?"))
    parts = confirmation_rows(me)
    summary.extend(parts)
    if sandbox:
        summary.append(("gateway", "embedded sandbox (test credits)"))
    confirm_spend(session.output, summary=summary, cost=cost, balance=balance, yes=yes,
                  balance_label="can spend" if parts else "balance")
    reference_field = _uploaded_references(references, client.upload) if references else None

    # 3. The paid request, then never lose the job: its id is shown the moment it arrives.
    flight = InFlight()
    progress = JobProgress(session.output.err)

    def announce(job: SubmittedJob) -> None:
        flight.record(job)
        progress.submitted(job)

    with job_in_flight(flight):
        job = submit_job(
            client,
            journal,
            request,
            reference_field=reference_field,
            account=session.account_label(),
            out_dir=out_dir,
            on_hold=_on_hold,
            on_submitted=announce,
            sandbox=client.is_sandbox,
            out_target=target.spec() if target.named else None,
        )
        meta: dict[str, Any] = {"credits_used": job.credits_used, "cost": cost}
        if balance is not None and job.credits_used is not None:
            meta["balance_after"] = balance - job.credits_used
        if sandbox or client.is_sandbox:
            meta["sandbox"] = True
        if no_wait:
            command = resume_command(job.job_id)
            data = {
                "job_id": job.job_id,
                "status": "submitted",
                "estimated_seconds": job.estimated_seconds,
                "result_command": command,
            }

            def human() -> None:
                session.output.out.print(job.job_id, markup=False, highlight=False)
                session.output.info(f"Fetch it when it is ready (about {job.estimated_seconds} s): [bold]{command}[/]")

            session.output.success(data, meta=meta, human=human)
            return
        outcome = fetch_job(
            client,
            journal,
            job.job_id,
            out_dir=out_dir,
            timeout=timeout,
            label=request.prompt,
            estimated=job.estimated_seconds,
            started=job.submitted_at,
            progress=progress,
            target=target,
        )
    meta["credits_used"] = outcome.credits_used if outcome.credits_used is not None else job.credits_used
    report_outcome(outcome, meta=meta, open_files=open_files)
    _say_finished(len(outcome.images), time.monotonic() - job.submitted_at, meta)


def _say_finished(saved: int, seconds: float, meta: dict[str, Any]) -> None:
    """The last line for a person (stderr): images, time, credits, balance after; none with --json."""
    if not session.output.json_mode:
        session.output.info(finish_line(saved, seconds, meta["credits_used"], meta.get("balance_after")))
