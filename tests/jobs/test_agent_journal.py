"""The agent CLI's light journal writer keeps JobJournal's file, schema and states."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from gptimg import home
from gptimg.jobs import agent_journal, journal, schema
from gptimg.jobs.agent_journal import AgentJournal
from gptimg.jobs.journal import JobJournal


def test_same_file_and_state_names_as_the_journal() -> None:
    for name in ("JOURNAL_FILENAME", "SUBMITTING", "SUBMITTED", "UNKNOWN", "REJECTED"):
        assert getattr(agent_journal, name) == getattr(journal, name), name


def test_a_first_use_creates_the_full_schema_and_rows_read_back_through_jobjournal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    writer = AgentJournal(path)
    row = writer.record_submit(gateway="http://127.0.0.1:1", arguments={"prompt": "fox", "n": 2, "size": "auto",
                                                                         "reference_image_urls": ["u1", "u2"]},
                               account="ada@example.com")
    writer.record_job_id(row, "0b84b8f0f0c8", estimated_seconds=150, credits_used=300)
    writer.close()
    with JobJournal(path) as reader:
        applied = {r[0] for r in reader._db.execute("SELECT name FROM _migrations")}
        assert applied == {name for name, _ in schema.MIGRATIONS}
        record = reader.get("0b84b8f0f0c8")
    assert record is not None
    assert (record.status, record.prompt, record.n, record.size, record.reference_urls, record.credits_used,
            record.account) == ("submitted", "fox", 2, "auto", "u1,u2", 300, "ada@example.com")
    assert record.created_at.endswith("Z") and len(record.created_at) == len("2026-11-25T10:00:00.000Z")


@pytest.mark.e2e
def test_an_existing_journal_is_written_without_loading_the_journal_module(tmp_path: Path) -> None:
    import subprocess

    path = tmp_path / "j.sqlite3"
    JobJournal(path).close()
    code = (
        "import sys; from pathlib import Path; from gptimg.jobs.agent_journal import AgentJournal\n"
        f"w = AgentJournal(Path({str(path)!r})); r = w.record_submit(gateway='g', arguments={{'prompt': 'p'}},"
        " account=None); w.mark_unknown(r, 'dropped'); w.close()\n"
        "print(sorted(m for m in sys.modules if m in ('gptimg.jobs.journal', 'dataclasses')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    rows = sqlite3.connect(str(path)).execute("SELECT status, error FROM jobs").fetchall()
    assert rows == [("unknown", "dropped")]


def test_the_stdlib_data_dir_is_platformdirs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    from platformdirs import user_data_dir

    monkeypatch.delenv("GPTIMG_HOME", raising=False)
    assert home.platform_data_dir() == Path(user_data_dir("gptimg", appauthor=False))
    monkeypatch.setenv("XDG_DATA_HOME", "/tmp/xdg-elsewhere")
    assert home.platform_data_dir() == Path(user_data_dir("gptimg", appauthor=False))
