"""What happened to each line, and the tally both output modes print at the end."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any

from gptimg import errors
from gptimg.batch.manifest import ManifestLine

#: json's own string encoder (``ensure_ascii=False``; its C version where there is one), as the ``--json`` lines use.
_JSON_STRING = encode_basestring

#: Images saved by this run.
DONE = "done"
#: Images were already on disk from an earlier run; nothing was spent or fetched.
ALREADY_DONE = "already_done"
#: The line did not produce images (the job failed, or the gateway refused the submit).
FAILED = "failed"
#: A submit for this line may have been charged but gave no job id: never resubmitted on our own.
UNKNOWN = "unknown"
#: Not attempted: over ``--max-credits``, interrupted, or stopped after the credits ran out.
SKIPPED = "skipped"

SUCCESS_STATUSES = (DONE, ALREADY_DONE)


@dataclass
class LineResult:
    """One line's outcome; ``files`` are the saved images' paths."""

    line: ManifestLine
    status: str
    job_id: str | None = None
    files: list[str] = field(default_factory=list)
    error: str | None = None
    code: str | None = None
    hint: str | None = None
    #: Credits this run spent on the line (None when it submitted nothing).
    credits_used: float | None = None

    @property
    def succeeded(self) -> bool:
        return self.status in SUCCESS_STATUSES

    def to_dict(self) -> dict[str, Any]:
        """The ``--json`` line for this item."""
        out: dict[str, Any] = {
            "line": self.line.line,
            "key": self.line.key,
            "name": self.line.name,
            "status": self.status,
            "job_id": self.job_id,
            "files": list(self.files),
        }
        if self.error is not None:
            out["error"] = self.error
            out["code"] = self.code
            if self.hint:
                out["hint"] = self.hint
        if self.credits_used is not None:
            out["credits_used"] = self.credits_used
        return out

    def json_text(self) -> str | None:
        """``to_dict()`` as the ``--json`` line encodes it, from a template, for a line with no error and no credits
        (every line of a finished batch's re-run); None for the rest (and anything the template cannot spell)."""
        line, text = self.line, _JSON_STRING
        if self.error is not None or self.credits_used is not None or type(line.line) is not int:
            return None
        try:
            name = "null" if line.name is None else text(line.name)
            job_id = "null" if self.job_id is None else text(self.job_id)
            return (f'{{"line": {int.__repr__(line.line)}, "key": {text(line.key)}, "name": {name}, '
                    f'"status": {text(self.status)}, "job_id": {job_id}, "files": [{", ".join(map(text, self.files))}]}}')
        except TypeError:  # not a str (or an int line number): the encoder's ``default`` would be asked
            return None

    @classmethod
    def from_error(cls, line: ManifestLine, status: str, exc: BaseException, job_id: str | None = None,
                   credits_used: float | None = None) -> LineResult:
        if isinstance(exc, errors.GptimgError):
            return cls(line, status, job_id=job_id, error=exc.message, code=exc.code, hint=exc.hint or None,
                       credits_used=credits_used)
        return cls(line, status, job_id=job_id, error=f"{type(exc).__name__}: {exc}", code="internal_error",
                   credits_used=credits_used)


@dataclass
class Tally:
    """Counts by status, credits and submits: the final summary."""

    total: int = 0
    done: int = 0
    already_done: int = 0
    failed: int = 0
    unknown: int = 0
    skipped: int = 0
    credits_used: float = 0
    submits: int = 0

    def add(self, result: LineResult) -> None:
        self.add_all((result,))

    def add_all(self, results: Sequence[LineResult]) -> None:
        """Count ``results`` (a re-run reports its finished lines a few hundred at a time)."""
        statuses = [result.status for result in results]
        for status in set(statuses):
            setattr(self, status, getattr(self, status) + statuses.count(status))
        for result in results:
            if result.credits_used:
                self.credits_used += result.credits_used

    @property
    def succeeded(self) -> bool:
        return self.done + self.already_done == self.total

    @property
    def finished(self) -> int:
        return self.done + self.already_done + self.failed + self.unknown + self.skipped

    def exit_code(self, *, interrupted: bool = False) -> int:
        """0 only when every line has its images; 5 for failed or skipped lines; 7 for doubtful submits."""
        if interrupted:
            return errors.EXIT_INTERRUPTED
        if self.succeeded:
            return errors.EXIT_OK
        if self.failed or self.skipped:
            return errors.EXIT_JOB_FAILED
        return errors.EXIT_OUTCOME_UNKNOWN

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "already_done": self.already_done,
            "failed": self.failed,
            "unknown": self.unknown,
            "skipped": self.skipped,
            "credits_used": self.credits_used,
            "submits": self.submits,
        }
