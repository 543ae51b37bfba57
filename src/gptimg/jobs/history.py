"""Reading the journal back: filtered listings, totals and one job's story, computed by SQLite.

``gptimg jobs``, ``gptimg gallery`` and ``gptimg jobs show`` ask here. The
filters, the order and the limit are one SQL statement, so listing the newest
20 of 100,000 rows reads 20 rows, and the totals are one aggregate query, not a
loop in Python. Nothing here writes.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from gptimg import errors
from gptimg.jobs.journal import DONE, ERROR, REJECTED, RUNNING, SUBMITTED, SUBMITTING, UNKNOWN
from gptimg.jobs.record import STALE_SUBMIT_SECONDS, JobRecord

if TYPE_CHECKING:
    from gptimg.jobs.journal import JobJournal

STATUSES = (SUBMITTING, SUBMITTED, RUNNING, DONE, ERROR, UNKNOWN, REJECTED)
#: The status as listed: a ``submitting`` row a stopped process left behind reads ``unknown``
#: (``JobRecord.as_listed``, in SQL so that filters and totals agree with what is shown).
LISTED_STATUS = f"(CASE WHEN status = '{SUBMITTING}' AND created_at < ? THEN '{UNKNOWN}' ELSE status END)"
#: The columns a listing needs (not items, references or the account).
LISTING_COLUMNS = (
    f"id, created_at, updated_at, {LISTED_STATUS} AS status, job_id, gateway, prompt, style, size, n,"
    " credits_used, files, out_dir"
)
_RELATIVE = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@dataclass(frozen=True)
class JobFilter:
    """What ``--search``, ``--status``, ``--since`` and ``--style`` asked for (None: anything)."""

    search: str | None = None
    statuses: tuple[str, ...] = ()
    since: str | None = None  # UTC, in the journal's own timestamp format
    style: str | None = None
    with_files: bool = False  # only jobs that saved images (the gallery)

    def where(self) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = []
        params: list[Any] = []
        if self.search:
            escaped = self.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clauses.append("prompt LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        if self.statuses:
            clauses.append(f"{LISTED_STATUS} IN ({','.join('?' * len(self.statuses))})")
            params.extend((stale_before(), *self.statuses))
        if self.since:
            clauses.append("created_at >= ?")
            params.append(self.since)
        if self.style:
            if self.style.lower() == "none":
                clauses.append("(style IS NULL OR style = '')")
            else:
                clauses.append("style = ?")
                params.append(self.style)
        if self.with_files:
            clauses.append("files IS NOT NULL AND files NOT IN ('', '[]')")
        return (" WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)


    def matches(self, record: JobRecord) -> bool:
        """The same test in Python, for the few jobs outside the table (the fallback file)."""
        return (
            (not self.search or self.search.lower() in record.prompt.lower())
            and (not self.statuses or record.status in self.statuses)
            and (not self.since or record.created_at >= self.since)
            and (not self.style or (record.style or "none") == self.style)
            and (not self.with_files or bool(record.files))
        )


def stale_before(now: datetime | None = None) -> str:
    """Rows still ``submitting`` that were written before this are listed as ``unknown``."""
    when = (now or datetime.now(timezone.utc)) - timedelta(seconds=STALE_SUBMIT_SECONDS)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_statuses(values: list[str] | None) -> tuple[str, ...]:
    """``--status done,error --status unknown`` as a tuple; an unknown word is a usage error."""
    words = [word.strip().lower() for value in values or () for word in value.split(",") if word.strip()]
    wrong = [word for word in words if word not in STATUSES]
    if wrong:
        raise errors.UsageError(
            f"Unknown status {wrong[0]!r}.", hint=f"Use one or more of: {', '.join(STATUSES)}"
        )
    return tuple(dict.fromkeys(words))


def parse_since(text: str | None, now: datetime | None = None) -> str | None:
    """``--since 7d`` / ``12h`` / ``30m`` / ``2w`` / ``2026-11-01`` / ``2026-11-01T09:30`` (local time) as UTC."""
    if text is None or not text.strip():
        return None
    raw = text.strip().lower()
    now = now or datetime.now(timezone.utc)
    relative = _RELATIVE.match(raw)
    if relative:
        when = now - timedelta(**{_UNITS[relative.group(2)]: int(relative.group(1))})
    elif raw in ("today", "yesterday"):
        midnight = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        when = midnight - timedelta(days=1 if raw == "yesterday" else 0)
    else:
        try:
            when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise errors.UsageError(
                f"--since {text!r} is not a date or an age.",
                hint="Examples: --since 7d, --since 12h, --since today, --since 2026-11-01",
            ) from None
        if when.tzinfo is None:
            when = when.astimezone()  # a date as the person reads their clock
    return when.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def has_sandbox_column(journal: JobJournal) -> bool:
    """Whether the journal records a sandbox flag per row (migration m004); rows are real otherwise."""
    return any(row[1] == "sandbox" for row in journal._read("PRAGMA table_info(jobs)"))


def listing(journal: JobJournal, where: JobFilter, limit: int) -> list[Any]:
    """The newest ``limit`` jobs matching ``where``: journal rows, and any job ids only the fallback file has."""
    sql, params = where.where()
    columns = LISTING_COLUMNS + (", sandbox" if has_sandbox_column(journal) else "")
    rows: list[Any] = journal._read(
        f"SELECT {columns} FROM jobs{sql} ORDER BY id DESC LIMIT ?", (stale_before(), *params, limit)  # noqa: S608
    )
    kept = [record.to_dict() for record in unjournaled(journal) if where.matches(record)]
    if kept:
        rows = sorted([*rows, *kept], key=lambda row: row["created_at"], reverse=True)[:limit]
    return rows


def full_listing(journal: JobJournal, where: JobFilter, limit: int) -> list[dict[str, Any]]:
    """``--json``: every field of each job, as ``JobRecord`` lists it (stale submits as unknown, with why)."""
    sql, params = where.where()
    now = datetime.now(timezone.utc)
    rows = journal._read(f"SELECT * FROM jobs{sql} ORDER BY id DESC LIMIT ?", (*params, limit))  # noqa: S608
    records = [JobRecord.from_row(row).as_listed(now) for row in rows]
    kept = [record for record in unjournaled(journal) if where.matches(record)]
    if kept:
        records = sorted([*records, *kept], key=lambda record: record.created_at, reverse=True)[:limit]
    return [record.to_dict() for record in records]


def unjournaled(journal: JobJournal) -> list[JobRecord]:
    """Job ids the journal could not take when their submit answered (``jobs/fallback.py``), not in it since."""
    from gptimg.jobs import fallback

    entries = fallback.read_jobs(journal.path.parent)
    if not entries:
        return []
    where = fallback.fallback_path(journal.path.parent)
    return [JobRecord.from_fallback(entry, where) for entry in entries if journal.get(entry["job_id"]) is None]


@dataclass(frozen=True)
class Totals:
    jobs: int
    images: int
    credits: float
    sandbox_images: int
    sandbox_credits: float


def totals(journal: JobJournal, where: JobFilter) -> Totals:
    """Images saved and credits spent over every matching row, real and sandbox apart."""
    sql, params = where.where()
    sandbox = "COALESCE(sandbox, 0)" if has_sandbox_column(journal) else "0"
    images = f"CASE WHEN status = '{DONE}' THEN COALESCE(n, 1) ELSE 0 END"
    row = journal._read(
        f"SELECT COUNT(*), SUM(CASE WHEN {sandbox} THEN 0 ELSE {images} END),"  # noqa: S608
        f" SUM(CASE WHEN {sandbox} THEN 0 ELSE COALESCE(credits_used, 0) END),"
        f" SUM(CASE WHEN {sandbox} THEN {images} ELSE 0 END),"
        f" SUM(CASE WHEN {sandbox} THEN COALESCE(credits_used, 0) ELSE 0 END) FROM jobs{sql}",
        params,
    )[0]
    return Totals(int(row[0] or 0), int(row[1] or 0), float(row[2] or 0), int(row[3] or 0), float(row[4] or 0))


def find(journal: JobJournal, ref: str) -> dict[str, Any] | None:
    """One job as listed (every field), by job id or by ``#ROW`` for a submit that never got one.

    A job id only the fallback file holds is found too.
    """
    if ref.startswith("#") and ref[1:].isdigit():
        rows = journal._read("SELECT * FROM jobs WHERE id = ?", (int(ref[1:]),))
    else:
        rows = journal._read("SELECT * FROM jobs WHERE job_id = ?", (ref,))
    if rows:
        return JobRecord.from_row(rows[0]).as_listed(datetime.now(timezone.utc)).to_dict()
    return next((record.to_dict() for record in unjournaled(journal) if record.job_id == ref), None)


def status_history(journal: JobJournal, row_id: int) -> list[sqlite3.Row]:
    """(at, status, error) of each status the row went through, oldest first."""
    return journal._read("SELECT at, status, error FROM job_events WHERE job_row = ? ORDER BY id", (row_id,))


def files_of(row: Any) -> list[str]:
    raw = row["files"]
    if not raw:
        return []
    if isinstance(raw, list):  # a fallback entry, already decoded
        return [str(path) for path in raw]
    try:
        files = json.loads(raw)
    except ValueError:
        return []
    return [str(path) for path in files] if isinstance(files, list) else []
