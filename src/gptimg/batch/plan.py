"""What a batch run will do with each line, and what it will cost: decided from the journal, before anything runs.

Pure planning, no network and no printing: the command shows the plan and asks
once; the runner carries it out.

A line is paid for at most once. A line whose key already has a job (submitted,
running or done) is polled or fetched again, never submitted; a line whose last
submit has an unknown outcome is left for a person (``gptimg jobs``), because it
may have been paid; a job the gateway did not know when last asked is asked
again (free), never resubmitted. Only the gateway's own terminal ``error`` for
the line's job frees it to be paid for again, and only with ``--resubmit-failed``.
Lines with no job, or whose submits were refused (nothing charged), are submitted.

New images for lines that already have a job (done, or open) are paid for only
with ``--new-images`` (RENEW), which has its own confirmation; without it a
re-run into a new ``--out`` fetches the old images, free.

A job the gateway no longer knows (``job_not_found``) is asked again, free,
until the person decides. The way to pay for a new image for such a line is
``--resubmit-failed``, not ``--new-images``: the line has no image, just like
a line the gateway failed, and ``--resubmit-failed`` pays only for lines
without images, where ``--new-images`` would also pay again for every line
that is done. See :attr:`PlannedLine.forgotten`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from gptimg import errors
from gptimg.balance import check_balance
from gptimg.batch.lazy_sequence import LazySequence
from gptimg.batch.manifest import ManifestLine
from gptimg.batch.report import ALREADY_DONE, FAILED, UNKNOWN, LineResult
from gptimg.batch.saved_files import SavedFiles
from gptimg.gateway.urls import is_loopback_host, origin
from gptimg.jobs import journal as journal_states
from gptimg.jobs.journal import BATCH_KEYS_PER_QUERY, JobJournal, JobRecord
from gptimg.jobs.record import JOB_NOT_FOUND

NEW = "new"  # submit (nothing paid yet, or earlier submits were refused)
RESUME = "resume"  # a job is paid for and not fetched yet: poll it
FETCH = "fetch"  # the job is done but its images are not in the output folder: download them
HAVE = "have"  # done, and the files are there: nothing to do
ATTENTION = "attention"  # a submit may have been charged without a job id: a person decides
RETRY = "retry"  # the gateway failed (or forgot) the line's job: paid for again only with --resubmit-failed
RENEW = "renew"  # the line already has a job; paid for again for new images (--new-images)
KINDS = (NEW, RESUME, FETCH, HAVE, ATTENTION, RETRY, RENEW)
#: The lines a run leaves as they are (all of a finished batch's re-run) are reported this many at a time.
STANDING_AT_ONCE = 256


@dataclass(init=False)
class PlannedLine:
    """One line's plan. Slotted: a run holds one per manifest line from the plan to the end."""

    __slots__ = ("line", "kind", "record", "seen_row")
    line: ManifestLine
    kind: str
    #: A ``FinishedRow`` for a HAVE line (all the runner reads of it is ``job_id`` and ``files``).
    record: JobRecord | FinishedRow | None
    #: The newest journal row under the line's key when planned: only a newer row means another run took it.
    seen_row: int

    def __init__(self, line: ManifestLine, kind: str, record: JobRecord | FinishedRow | None = None,
                 seen_row: int = 0) -> None:
        self.line = line
        self.kind = kind
        self.record = record
        self.seen_row = seen_row

    @property
    def forgotten(self) -> bool:
        """The line's job is one the gateway did not know when last asked (no image; maybe paid)."""
        record = self.record
        return (record is not None and record.status == journal_states.ERROR
                and record.error_code == JOB_NOT_FOUND)


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


def _files_present(files: list[str], saved: SavedFiles) -> bool:
    if not files:
        return False
    listed = saved.paths()
    for name in files:
        if name in listed:
            continue  # the usual case, a name from one folder listing: a stat, or a resolve, per line made re-runs slow
        path = Path(name)
        if not path.is_file() or path.resolve().parent != saved.real_folder():
            return False
    return True


def same_request(record: JobRecord, line: ManifestLine) -> bool:
    """A row under this key asked for the same thing (a ``name`` reused with another prompt does not count)."""
    return (
        record.prompt == line.prompt
        and (record.style or None) == line.style
        and (record.size or None) == line.size
        and (record.n or 1) == line.n
    )


def plan_line(
    line: ManifestLine, rows: list[JobRecord], out_dir: Path, gateway: str, *, new_images: bool = False,
    resubmit_failed: bool = False,
) -> PlannedLine:
    """Decide from the key's journal rows (oldest first) what this run does with the line.

    ``--new-images`` turns a line that has a job (done or open) into a paid submit;
    ``--resubmit-failed`` does the same for a line whose job the gateway forgot.
    """
    return _plan_records(line, rows, SavedFiles(out_dir), gateway, new_images=new_images,
                         resubmit_failed=resubmit_failed)


def _plan_records(line: ManifestLine, rows: list[JobRecord], saved: SavedFiles, gateway: str, *,
                  new_images: bool, resubmit_failed: bool) -> PlannedLine:
    planned = _plan_from_rows(line, rows, saved, gateway)
    planned.seen_row = max((r.id for r in rows), default=0)
    if new_images and planned.kind in (HAVE, FETCH, RESUME):
        planned.kind = RENEW
    elif resubmit_failed and planned.kind == RESUME and planned.forgotten:
        planned.kind = RETRY
    return planned


def _plan_from_rows(line: ManifestLine, rows: list[JobRecord], saved: SavedFiles, gateway: str) -> PlannedLine:
    rows = [r for r in rows if same_request(r, line) and same_gateway(r.gateway, gateway)]
    done = [r for r in rows if r.status == journal_states.DONE and r.job_id]
    if done:
        with_files = [r for r in done if _files_present(r.files, saved)]
        if with_files:
            return PlannedLine(line, HAVE, with_files[-1])
        return PlannedLine(line, FETCH, done[-1])
    open_rows = [r for r in rows if r.job_id and (r.status in journal_states.OPEN_STATES or
                                                  (r.status == journal_states.ERROR and not r.failed_on_gateway))]
    if open_rows:
        return PlannedLine(line, RESUME, open_rows[-1])
    doubtful = [r for r in rows if r.status in (journal_states.SUBMITTING, journal_states.UNKNOWN)]
    if doubtful:
        return PlannedLine(line, ATTENTION, doubtful[-1])
    failed = [r for r in rows if r.failed_on_gateway]
    if failed:
        return PlannedLine(line, RETRY, failed[-1])
    return PlannedLine(line, NEW)


def claims_line(record: JobRecord, line: ManifestLine, gateway: str, after_row: int = 0) -> bool:
    """A journal row that means this line is already paid for (or may be): the planner's rule, for the claim.

    Rows up to ``after_row`` were already judged by this run's plan (which may pay
    again for them, with the user's flag); only a newer one is another run's claim.
    """
    if record.id <= after_row or not (same_request(record, line) and same_gateway(record.gateway, gateway)):
        return False
    taken = (*journal_states.OPEN_STATES, journal_states.DONE, journal_states.SUBMITTING, journal_states.UNKNOWN)
    return record.status in taken or (record.status == journal_states.ERROR and not record.failed_on_gateway)


def standing_result(planned: PlannedLine) -> LineResult:
    """The result of a line this run leaves alone: maybe charged (ATTENTION), or failed earlier (RETRY)."""
    record = planned.record
    assert record is not None
    if planned.kind == ATTENTION:
        return LineResult(
            planned.line, UNKNOWN, job_id=record.job_id,
            error=f"An earlier submit for this line may have been charged but gave no job id "
                  f"(journal row {record.id}: {record.error or record.status}); it is not resubmitted.",
            code=errors.SubmitOutcomeUnknown.code,
            hint="Check `gptimg jobs` and your balance; to generate it anyway, give the line a new name.",
        )
    return LineResult(
        planned.line, FAILED, job_id=record.job_id,
        error=f"The gateway failed this line's job {record.job_id} earlier ({record.error or 'error'}); "
              "it is not paid for again on its own.",
        code=errors.JobFailed.code,
        hint="To pay for it again, run the same command with --resubmit-failed.",
    )


def standing_results(plan: BatchPlan) -> Iterator[list[LineResult]]:
    """The results of the lines this run leaves as they are (``BatchPlan.standing``), in manifest order, in lists
    of up to ``STANDING_AT_ONCE``: a re-run reports its finished lines a list at a time."""
    results = (_standing(planned) for planned in plan.standing())
    return iter(lambda: list(islice(results, STANDING_AT_ONCE)), [])


def _standing(planned: PlannedLine) -> LineResult:
    record = planned.record
    if planned.kind == HAVE:
        assert record is not None
        return LineResult(planned.line, ALREADY_DONE, job_id=record.job_id, files=list(record.files))
    return standing_result(planned)


class PlannedLines(LazySequence[PlannedLine]):
    """Every line's plan, compact: one kind byte per line, and a ``PlannedLine`` only where there is more to say.

    A new line (the whole of a first run) is only its kind; its ``PlannedLine`` is made
    again, from the manifest, when asked for. A 5,000-line batch held a ``PlannedLine``
    and its ``ManifestLine`` per line from the plan to the end of the run.
    """

    def __init__(self, lines: Sequence[ManifestLine]) -> None:
        self._lines = lines
        self.kinds = bytearray()
        self._kept: dict[int, PlannedLine] = {}

    def add(self, planned: PlannedLine) -> None:
        if planned.kind != NEW or planned.seen_row or planned.record is not None:
            self._kept[len(self.kinds)] = planned
        self.kinds.append(KINDS.index(planned.kind))

    def __len__(self) -> int:
        return len(self.kinds)

    def _item(self, position: int) -> PlannedLine:
        kept = self._kept.get(position)  # a done line, once reported, comes back without its row
        return kept if kept is not None else PlannedLine(self._lines[position], KINDS[self.kinds[position]])

    def where(self, wanted: Callable[[str], bool]) -> Iterator[PlannedLine]:
        """The lines whose kind is ``wanted``, in manifest order; a new line's plan only made when reached."""
        codes = bytes(wanted(kind) for kind in KINDS)
        for position, code in enumerate(self.kinds):
            if codes[code]:
                yield self[position]

    def kept(self) -> Iterator[PlannedLine]:
        """The lines that are more than new (a job, a journal row), in manifest order."""
        return map(self._kept.__getitem__, sorted(self._kept))  # no Python frame per line (5,000 in a re-run)

    def forget_done(self) -> None:
        """Drop the done lines' rows once their results are out: a re-run holds nothing per finished line."""
        for position in [p for p, planned in self._kept.items() if planned.kind == HAVE]:
            del self._kept[position]


@dataclass
class BatchPlan:
    """Every line's plan, and the spend it asks for."""

    lines: PlannedLines
    #: Credits one submit costs (from the catalogue).
    cost: float
    #: Hard cap on credits this run commits to submits; None for no cap.
    max_credits: float | None = None
    #: Lines the gateway failed earlier are paid for again (the explicit ``--resubmit-failed``).
    resubmit_failed: bool = False
    counts: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        self.counts = {kind: self.lines.kinds.count(code) for code, kind in enumerate(KINDS)}

    def to_submit(self, kind: str) -> bool:
        """Whether a line planned as ``kind`` is submitted by this run (cap permitting)."""
        return kind in (NEW, RENEW) or (kind == RETRY and self.resubmit_failed)

    @property
    def wanted(self) -> int:
        """Lines this run would submit with no cap."""
        return self.counts[NEW] + self.counts[RENEW] + (self.counts[RETRY] if self.resubmit_failed else 0)

    @property
    def renewing(self) -> int:
        """Lines that already have a job and are paid for again (``--new-images``), cap permitting."""
        return min(self.counts[RENEW], self.allowed)

    def forgotten(self) -> list[PlannedLine]:
        """Lines whose job the gateway did not know when last asked (asked again, free, unless paid again)."""
        return [p for p in self.lines.kept() if p.forgotten and p.kind in (RESUME, RETRY)]

    def standing(self) -> Iterator[PlannedLine]:
        """The lines this run leaves as they are, in manifest order: done, doubtful, and failed unless paid again."""
        return (p for p in self.lines.kept()
                if p.kind in (HAVE, ATTENTION) or (p.kind == RETRY and not self.resubmit_failed))

    def queued(self) -> tuple[int, Iterator[PlannedLine]]:
        """How many lines the workers take, and those lines: paid jobs first (they cost nothing more and free
        their workers soonest), then the submits; each line's plan is made only when a worker reaches it."""
        count = sum(self.counts[kind] for kind in KINDS if kind in (RESUME, FETCH) or self.to_submit(kind))
        paid = self.lines.where(lambda kind: kind in (RESUME, FETCH))
        return count, (planned for part in (paid, self.lines.where(self.to_submit)) for planned in part)

    @property
    def allowed(self) -> int:
        """How many of the wanted submits fit under ``--max-credits``."""
        cap = self.max_credits
        if cap is None or self.cost <= 0:
            return self.wanted
        return min(self.wanted, int(cap // self.cost))

    @property
    def total_cost(self) -> float:
        return self.allowed * self.cost

    def text(self) -> str:
        """One line for the person: what is submitted, fetched, left alone."""
        resumed = self.counts[RESUME] + self.counts[FETCH]
        have = self.counts[HAVE] + self.counts[ATTENTION]
        parts = [f"{len(self.lines)} lines: {self.allowed} to submit",
                 f"{resumed} already submitted (fetched, free)", f"{have} already done or needing attention"]
        if self.counts[RENEW]:
            parts.append(f"{self.counts[RENEW]} already have images or a paid job, paid again for new images "
                         "(--new-images)")
        if self.counts[RETRY]:
            if self.resubmit_failed:
                parts.append(f"{self.counts[RETRY]} failed on the gateway earlier, submitted again (--resubmit-failed)")
            else:
                parts.append(f"{self.counts[RETRY]} failed on the gateway earlier (not paid again without "
                             "--resubmit-failed)")
        if self.wanted > self.allowed:
            parts.append(f"{self.wanted - self.allowed} skipped by --max-credits")
        return ", ".join(parts)

    def check_balance(self, balance: float | None) -> None:
        """The one balance rule (``gptimg.balance``), worded for a batch."""
        if not self.allowed:
            return
        cap = int(balance // self.cost * self.cost) if balance is not None and self.cost else 0
        check_balance(
            self.total_cost, balance,
            what=f"This batch needs {self.total_cost:g} credits ({self.allowed} × {self.cost:g})",
            hint=f"Top up, or cap the spend: --max-credits {cap}",
        )


class FinishedRow:
    """The columns of a journal row that tell a line is finished (``JobJournal.plan_rows``), by ``JobRecord``'s names."""

    __slots__ = ("id", "status", "job_id", "gateway", "prompt", "style", "size", "n", "files")

    def __init__(self, row: Sequence[Any]) -> None:
        _, self.id, self.status, self.job_id, self.gateway, self.prompt, self.style, self.size, self.n, files = row
        # Only a done row's files are ever read: the rest stay undecoded.
        self.files: list[str] = _json_list(files) if files and self.status == journal_states.DONE else []


def _json_list(text: str) -> list[str]:
    """``json.loads(text)`` for the journal's ``files`` column, in one call to the C scanner when it is the usual
    list and nothing else (``json.loads`` itself, with its errors, otherwise). A re-run decodes one per line."""
    try:
        value, end = _SCAN_JSON(text, 0)
    except (ValueError, StopIteration):
        value, end = None, -1
    return value if end == len(text) and isinstance(value, list) else json.loads(text)


_SCAN_JSON = json.JSONDecoder().scan_once


def _finished(line: ManifestLine, rows: list[FinishedRow], saved: SavedFiles, gateway: str) -> FinishedRow | None:
    """The newest row that makes ``line`` HAVE (done, same request and gateway, files in the folder), if any."""
    for row in reversed(rows):
        if (row.status == journal_states.DONE and row.job_id and same_request(row, line)  # type: ignore[arg-type]
                and (row.gateway == gateway or same_gateway(row.gateway, gateway))
                and _files_present(row.files, saved)):
            return row
    return None


def make_plan(
    journal: JobJournal,
    lines: Sequence[ManifestLine],
    *,
    out_dir: Path,
    gateway: str,
    cost: float,
    max_credits: float | None = None,
    resubmit_failed: bool = False,
    new_images: bool = False,
) -> BatchPlan:
    """Plan each line from its journal rows, 500 lines at a time, each 500 read in one indexed query.

    A finished line (the usual line of a re-run) is told from a few columns of its
    rows and one listing of the folder; only the lines left (none in a re-run, and
    none in a first run: they have no rows) are planned from full records. The
    manifest is read as a stream: only 500 lines are in memory at once.
    """
    saved = SavedFiles(out_dir)
    planned = PlannedLines(lines)
    chunk: list[ManifestLine] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == BATCH_KEYS_PER_QUERY:
            _plan_chunk(journal, chunk, planned, saved, gateway, new_images=new_images, resubmit_failed=resubmit_failed)
            chunk = []
    if chunk:
        _plan_chunk(journal, chunk, planned, saved, gateway, new_images=new_images, resubmit_failed=resubmit_failed)
    return BatchPlan(planned, cost=cost, max_credits=max_credits, resubmit_failed=resubmit_failed)


def _plan_chunk(journal: JobJournal, chunk: list[ManifestLine], planned: PlannedLines, saved: SavedFiles,
                gateway: str, *, new_images: bool, resubmit_failed: bool) -> None:
    by_key: dict[str, list[FinishedRow]] = {}
    for row in journal.plan_rows([line.key for line in chunk]):
        by_key.setdefault(row[0], []).append(FinishedRow(row))
    finished = [_finished(line, by_key[line.key], saved, gateway) if line.key in by_key else None for line in chunk]
    unsettled = [line.key for line, done in zip(chunk, finished) if done is None and line.key in by_key]
    records = journal.for_batch_keys(unsettled) if unsettled else {}
    have = RENEW if new_images else HAVE
    for line, done in zip(chunk, finished):
        if done is not None:  # rows come oldest first (by id): the last is the newest
            planned.add(PlannedLine(line, have, done, by_key[line.key][-1].id))
        elif line.key in by_key:
            planned.add(_plan_records(line, records.get(line.key, []), saved, gateway, new_images=new_images,
                                      resubmit_failed=resubmit_failed))
        else:
            planned.add(PlannedLine(line, NEW))
