"""The append-only fallback for job ids the journal could not take.

A paid job's id must outlive any journal failure: a journal locked by another
program past its busy timeout, a full disk, a damaged file. When writing the id
into the journal fails, it is appended here, one JSON object a line, next to the
journal. ``gptimg jobs`` lists these entries, ``gptimg result JOB_ID`` fetches
them, and the next journal that opens writable takes each id back into the row
that was waiting for it.

Append-only on purpose: one ``write`` of one short line with ``O_APPEND`` never
clobbers what another process wrote, and a torn last line (a crash mid-write) is
skipped by the reader rather than hiding the lines before it.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

FALLBACK_FILENAME = "unjournaled-jobs.jsonl"
#: Only this much of the file's end is read: it grows by a line per journal failure, so it stays small.
MAX_READ_BYTES = 256 * 1024


def fallback_path(directory: Path) -> Path:
    return directory / FALLBACK_FILENAME


def append_job(directory: Path, entry: dict[str, Any]) -> Path | None:
    """Append one entry (``job_id`` and what else is known); the file's path, or None if even this failed."""
    path = fallback_path(directory)
    line = json.dumps(
        {"at": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), **entry}, ensure_ascii=True
    )
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        return None
    return path


def read_jobs(directory: Path) -> list[dict[str, Any]]:
    """Every readable entry, oldest first; torn or foreign lines are skipped."""
    path = fallback_path(directory)
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - MAX_READ_BYTES))
            raw = handle.read()
    except OSError:
        return []
    entries: list[dict[str, Any]] = []
    for line in raw.decode("utf-8", "replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and isinstance(entry.get("job_id"), str) and entry["job_id"]:
            entries.append(entry)
    return entries
