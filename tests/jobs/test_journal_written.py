"""A row this handle just wrote stands for the read that follows it, exactly as the read would give it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gptimg.jobs.journal import JobJournal

GATEWAY = "https://gw.test"


def counted_reads(journal: JobJournal, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    reads: list[str] = []
    real = journal._reads.fetchall

    def fetchall(sql: str, params: Any = (), **options: bool) -> Any:
        reads.append(sql)
        return real(sql, params, **options)

    monkeypatch.setattr(journal._reads, "fetchall", fetchall)
    return reads


@pytest.mark.parametrize("sandbox, credits", [(True, 300), (None, 12.5), (False, None)])
def test_polling_a_job_just_submitted_needs_no_read_and_sees_the_row_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: bool | None, credits: float | None
) -> None:
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        row = journal.record_submit(gateway=GATEWAY, prompt="a fox \u202e", style="ghibli_anime", size="1024x1536",
                                    n=2, account="me@example.invalid", reference_urls="f_1,f_2", out_dir="/o",
                                    batch_key="k1", name="fox", sandbox=sandbox, out_target=None)
        journal.record_job_id(row, "job-fresh", estimated_seconds=120, credits_used=credits)
        reads = counted_reads(journal, monkeypatch)
        record = journal.ensure_job("job-fresh", gateway=GATEWAY)
        assert reads == [], "the row this handle just wrote was read back"
        assert record == journal.get("job-fresh")  # every field, types included (credits_used is a REAL)
        assert journal.ensure_job("job-fresh", gateway=GATEWAY) == record
        assert len(reads) == 2, "only the first ensure_job may stand in for a read"


def test_a_job_id_another_row_holds_is_never_taken_from_what_was_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with JobJournal(tmp_path / "journal.sqlite3") as journal:
        holder = journal.record_submit(gateway=GATEWAY, prompt="holder", style=None, size=None, n=1)
        journal.record_job_id(holder, "job-twice", estimated_seconds=1, credits_used=300)
        twin = journal.record_submit(gateway=GATEWAY, prompt="twin", style=None, size=None, n=1)
        assert journal.record_job_id(twin, "job-twice", estimated_seconds=1, credits_used=300) is False
        assert journal.ensure_job("job-twice", gateway=GATEWAY).prompt == "holder"  # never the twin's
        reads = counted_reads(journal, monkeypatch)
        record = journal.ensure_job("job-twice", gateway=GATEWAY)
        assert reads and record.prompt == "holder"
