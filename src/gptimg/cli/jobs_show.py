"""``gptimg jobs show JOB_ID``: everything the journal knows about one job, and what to do next.

The request, the timings, each status it went through (journal migration m005),
the error, every file and whether it is still there, and for a job that is not
finished the exact command that fetches it. Values from outside are neutralised
before they reach the terminal.
"""

from __future__ import annotations

import shlex
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptimg.cli.jobs_format import local_time, neutral
from gptimg.jobs.history import files_of, status_history
from gptimg.jobs.journal import DONE, OPEN_STATES, SUBMITTING, UNKNOWN

if TYPE_CHECKING:
    from gptimg.jobs.journal import JobJournal

_FULL_TIME = "%Y-%m-%d %H:%M:%S"


def _seconds_between(start: str, end: str) -> float | None:
    try:
        began = datetime.fromisoformat(start.replace("Z", "+00:00"))
        ended = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (ended - began).total_seconds()


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


def next_step(row: dict[str, Any], missing: int, default_gateway: str | None) -> tuple[str | None, str | None]:
    """(command, why) for a job that is not finished or lost files; (None, None) otherwise."""
    job_id, status = row["job_id"], row["status"]
    if job_id is None:
        if status in (SUBMITTING, UNKNOWN):
            return None, "The submit may have been charged but no job id came back; compare with your usage."
        return None, None
    command = f"gptimg result {shlex.quote(job_id)}"
    if row["gateway"] and default_gateway and row["gateway"].rstrip("/") != default_gateway.rstrip("/"):
        command += f" --base-url {shlex.quote(row['gateway'])}"
    if status in OPEN_STATES:
        return command, "The job is not finished here; this waits for it and saves the images (free)."
    if status == DONE and missing:
        return command, "Some files are gone; this downloads them again while the gateway still has them (free)."
    return None, None


def job_story(journal: JobJournal, row: dict[str, Any], default_gateway: str | None) -> dict[str, Any]:
    """The ``--json`` data of ``jobs show``: the job as listed, its history, its files, and the next step."""
    events = status_history(journal, row["id"]) if row["id"] else []
    files = [{"path": path, "exists": Path(path).is_file()} for path in files_of(row)]
    command, why = next_step(row, sum(1 for f in files if not f["exists"]), default_gateway)
    finished = next((e["at"] for e in events if e["status"] == DONE), None)
    return {
        "job": row,
        "history": [{"at": e["at"], "status": e["status"], "error": e["error"]} for e in events],
        "seconds_to_done": _seconds_between(row["created_at"], finished) if finished else None,
        "files": files,
        "resume_command": command,
        "next": why,
    }


def story_lines(story: dict[str, Any]) -> list[str]:
    """The human form of :func:`job_story`, one fact per line."""
    job = story["job"]
    facts: list[tuple[str, Any]] = [
        ("job", job["job_id"] or f"#{job['id']} (no job id)"),
        ("status", job["status"]),
        ("prompt", job["prompt"]),
        ("style", job["style"] or "none"),
        ("size", job["size"]),
        ("images", job["n"]),
        ("references", job.get("reference_urls")),
        ("account", job.get("account")),
        ("gateway", job["gateway"]),
        ("sandbox", None if job.get("sandbox") is None else "yes" if job["sandbox"] else "no"),
        ("credits", f"{job['credits_used']:g}" if job["credits_used"] is not None else None),
        ("estimated", f"{job['estimated_seconds']} s" if job.get("estimated_seconds") else None),
        ("submitted", local_time(job["created_at"], _FULL_TIME)),
        ("updated", local_time(job["updated_at"], _FULL_TIME)),
        ("took", _duration(story["seconds_to_done"]) if story["seconds_to_done"] is not None else None),
        ("saves into", job.get("out_dir")),
        ("error", job.get("error")),
    ]
    lines = [f"{label:<11}{neutral(str(value))}" for label, value in facts if value not in (None, "")]
    lines.append("history")
    for event in story["history"]:
        note = f"  ({neutral(event['error'])})" if event["error"] else ""
        lines.append(f"  {local_time(event['at'], _FULL_TIME)}  {neutral(event['status'])}{note}")
    if story["files"]:
        lines.append("files")
        for item in story["files"]:
            lines.append(f"  {neutral(item['path'])}  ({'exists' if item['exists'] else 'MISSING'})")
    if story["next"]:
        lines.append(f"next       {story['next']}")
    if story["resume_command"]:
        lines.append(f"           {neutral(story['resume_command'])}")
    return lines
