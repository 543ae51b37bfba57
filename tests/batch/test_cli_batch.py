"""``gptimg batch`` in-process with ``--sandbox``: JSON lines, stdin manifests, the exit codes."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from gptimg.cli import main


@pytest.fixture(autouse=True)
def fast_sandbox(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPTIMG_SANDBOX_DELAY", "0.2")


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[dict[str, object]]]:
    code = main(argv)
    out = capsys.readouterr().out
    return code, [json.loads(line) for line in out.splitlines() if line.strip()]


def test_sandbox_batch_prints_one_json_line_per_item_and_a_summary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text('prompt,name,n\n"a fox, red",fox,2\na cat,,\n')
    code, lines = run(["batch", str(manifest), "--sandbox", "--yes", "--json", "--out", str(tmp_path / "o")], capsys)
    assert code == 0
    items, summary = lines[:-1], lines[-1]
    assert sorted((i["line"], i["status"], len(i["files"])) for i in items) == [(2, "done", 2), (3, "done", 1)]
    assert summary["success"] is True and summary["data"]["submits"] == 2
    assert Path(str(summary["data"]["index_html"])).is_file()


def test_manifest_from_stdin(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b'{"prompt": "from a pipe", "name": "pipe"}\n')))
    code, lines = run(["batch", "-", "--sandbox", "--yes", "--json", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert Path(str(lines[0]["files"][0])).name.startswith("pipe-")


def test_a_bad_manifest_exits_2_before_the_sandbox_even_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"prompt": "ok"}\n{"prompt": "bad", "n": 5}\n')
    code, lines = run(["batch", str(manifest), "--sandbox", "--yes", "--json"], capsys)
    assert code == 2
    assert lines[0]["error"] == "invalid_manifest" and lines[0]["errors"][0]["line"] == 2


def test_a_failed_line_makes_exit_5_but_the_others_are_saved(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text('{"prompt": "fine"}\n{"prompt": "no [sandbox:fail]"}\n')
    code, lines = run(["batch", str(manifest), "--sandbox", "--yes", "--json", "--out", str(tmp_path)], capsys)
    assert code == 5
    assert sorted(str(i["status"]) for i in lines[:-1]) == ["done", "failed"]
    assert lines[-1]["success"] is False
