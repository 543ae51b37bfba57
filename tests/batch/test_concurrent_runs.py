"""Two runs of one manifest at the same moment (two terminals, two processes) still pay once per line."""

from __future__ import annotations

import threading
from pathlib import Path

from gptimg.batch import report
from gptimg.batch.runner import NEW, BatchRunner, BatchSettings
from gptimg.gateway import BackoffGate, GatewayClient, RetryPolicy
from gptimg.jobs import JobJournal
from gptimg.sandbox import SandboxGateway

from .conftest import manifest_lines


def test_two_runs_racing_on_one_manifest_submit_each_line_once(
    sandbox: SandboxGateway, api_key: str, tmp_path: Path
) -> None:
    lines = manifest_lines(8, prefix="race")
    path, out = tmp_path / "journal.sqlite3", tmp_path / "out"
    with JobJournal(path) as first_journal, JobJournal(path) as second_journal, GatewayClient(
        sandbox.base_url, api_key, retry=RetryPolicy(base_delay=0.01)
    ) as first_client, GatewayClient(sandbox.base_url, api_key, retry=RetryPolicy(base_delay=0.01)) as second_client:
        first = BatchRunner(first_client, first_journal, lines, BatchSettings(out_dir=out), gate=BackoffGate())
        second = BatchRunner(second_client, second_journal, lines, BatchSettings(out_dir=out), gate=BackoffGate())
        # Both planned before either submitted: each believes every line is new.
        assert {p.kind for p in first.plan()} == {NEW} and {p.kind for p in second.plan()} == {NEW}
        other = threading.Thread(target=second.run)
        other.start()
        first_results = first.run()
        other.join(timeout=60)
        second_results = second.results()
    assert sandbox.stats()["submits"] == 8
    by_line: dict[str, set[str]] = {}
    for result in [*first_results, *second_results]:
        by_line.setdefault(result.line.key, set()).add(result.status)
    assert all(report.DONE in statuses for statuses in by_line.values()), by_line
    skipped = [r for r in [*first_results, *second_results] if r.status == report.SKIPPED]
    assert all("another" in (r.error or "") for r in skipped)
