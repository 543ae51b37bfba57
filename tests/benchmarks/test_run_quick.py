"""Smoke test: ``benchmarks/run.py --quick`` runs offline and writes results JSON of the expected shape.

No wall-clock assertion here (timings belong to the benchmark, not to CI's pass/fail):
only that every section is present and each figure it reports is well formed.
It takes ~30 s on an idle machine; set GPTIMG_SKIP_BENCHMARK_SMOKE=1 to skip it locally.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SECTIONS = ("startup", "agent_call", "end_to_end", "batch", "download", "agent_economy", "batch_scale", "human_startup")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(os.environ.get("GPTIMG_SKIP_BENCHMARK_SMOKE") == "1", reason="GPTIMG_SKIP_BENCHMARK_SMOKE=1"),
]


def test_quick_run_writes_valid_results(tmp_path: Path) -> None:
    output = tmp_path / "results.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--output", str(output)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "| # | Figure | Ours | Reference | Ratio | Target | Met |" in proc.stdout

    results = json.loads(output.read_text())
    assert results["quick"] is True
    machine = results["machine"]
    assert machine["python"] and machine["platform"] and machine["cpu_count"] >= 1
    assert set(SECTIONS) <= set(results["sections"])
    for key, section in results["sections"].items():
        assert isinstance(section["available"], bool), key
        if not section["available"]:
            # A missing command is reported, never a crash; say why.
            assert section["reason"], key
        for figure in section["figures"]:
            assert {"id", "ours", "reference", "ratio", "target", "met", "runs"} <= set(figure)
            assert figure["met"] in (True, False, None)
            if section["available"] and figure["ours"] is not None:
                assert figure["runs"] >= 3, figure["id"]


def test_quick_run_measures_the_start_up_of_both_clients(tmp_path: Path) -> None:
    """The cheapest section on its own: both CLIs run and a ratio comes out."""
    import uno_cli  # noqa: F401 -- a test dependency: the reference side of the ratio, never skipped
    output = tmp_path / "results.json"
    subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run.py"), "--quick", "--only", "startup", "--output", str(output)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    figures = json.loads(output.read_text())["sections"]["startup"]["figures"]
    # The documented invocation (python3 -I -S bin/uno.py) is the headline; the plain one is kept beside it.
    assert [f["id"] for f in figures] == ["startup.version", "startup.version.plain", "startup.dry_run",
                                          "startup.dry_run.plain"]
    assert all("CPU" in f["note"] for f in figures)
    assert all(f["ours"] > 0 and f["reference"] > 0 and f["ratio"] > 0 for f in figures)
