"""The one-line listing's cells, without a journal: sandbox rows marked, widths exact, totals apart."""

from __future__ import annotations

import unicodedata
from typing import Any

from gptimg.cli.jobs_format import fit, fit_left, job_lines, totals_line, tsv_field
from gptimg.jobs.history import Totals


def _row(**values: Any) -> dict[str, Any]:
    row = {"id": 1, "created_at": "2026-11-25T16:00:00.000Z", "status": "done", "job_id": "0123456789ab",
           "credits_used": 150.0, "style": "ghibli_anime", "prompt": "a fox", "out_dir": "/tmp/x", "sandbox": None}
    row.update(values)
    return row


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_sandbox_rows_are_starred_and_totals_keep_test_credits_apart() -> None:
    lines = list(job_lines([_row(sandbox=1), _row(job_id="ba9876543210")], [["/tmp/x/a.png"], []], 80))
    assert lines[1].split()[2] == "done*" and lines[2].split()[2] == "done"
    line = totals_line(Totals(jobs=2, images=1, credits=150.0, sandbox_images=1, sandbox_credits=150.0), 2)
    assert line == "2 jobs · 1 images · 150 credits · *sandbox: 1 images, 150 test credits"
    assert "e+" not in totals_line(Totals(10_000, 20_000, 3_000_000.0, 0, 0.0), 20)


def test_cells_are_cut_to_exact_display_widths() -> None:
    for text in ("a red fox", "狐狸が雪の中で遊んでいる", "mixed 狐 text", ""):
        for width in range(1, 16):
            assert _width(fit(text, width)) == width
            assert _width(fit_left(text, width)) == width


def test_tsv_fields_stay_on_one_line_and_show_controls() -> None:
    assert tsv_field("a\tb\nc\\d\x1b[2J\u202e") == "a\\tb\\nc\\\\d\\x1b[2J\\u202e"
    assert tsv_field(None) == "" and tsv_field(300) == "300"
