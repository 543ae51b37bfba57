"""A job id is shown in terminals and put in file names and commands: only printable, short ones are used."""

from __future__ import annotations

from pathlib import Path

import pytest
import respx

from gptimg import errors
from gptimg.gateway import GatewayClient
from gptimg.gateway._httpx import HttpxWire  # respx mocks httpx
from gptimg.jobs import JobJournal, submit_job
from gptimg.jobs.pipeline import usable_job_id
from gptimg.params import build_request

BASE = "https://gateway.test"


@pytest.mark.parametrize("job_id", ["0b84b8f0f0c8", "job_01-ABC", "x" * 128])
def test_ordinary_ids_are_usable(job_id: str) -> None:
    assert usable_job_id(job_id)


@pytest.mark.parametrize("job_id", ["", "job\u202eevil", "a\x1b[31mred", "two words", "line\nbreak", "x" * 129])
def test_ids_that_could_mislead_a_terminal_are_not(job_id: str) -> None:
    assert not usable_job_id(job_id)


@respx.mock
def test_a_submit_answered_with_an_unusable_id_is_unknown_and_the_raw_id_is_kept_escaped(tmp_path: Path) -> None:
    hostile = "job\u202egpj.exe\x1b[2J"
    respx.post(f"{BASE}/v1/call").respond(200, json={"data": {"status": "pending", "job_id": hostile}})
    with JobJournal(tmp_path / "j.sqlite3") as journal:
        with pytest.raises(errors.SubmitOutcomeUnknown) as caught:
            client = GatewayClient(BASE, "uno_job_id_test_key_0123456789", wire=HttpxWire(max_connections=1, user_agent="t"))
            submit_job(client, journal, build_request("a fox"))
        (row,) = journal.recent()
    assert hostile not in caught.value.message
    assert (row.status, row.job_id) == ("unknown", None)
    assert hostile not in (row.error or "") and "\\u202e" in (row.error or "")
