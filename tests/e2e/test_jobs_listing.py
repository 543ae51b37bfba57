"""``gptimg jobs`` as a person and a pipe see it: 80 columns in a terminal, TSV on a pipe, filters, ``jobs show``."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Callable

import pytest

from gptimg.jobs.journal import JobJournal

from .conftest import CliRunner

pytestmark = pytest.mark.e2e

GPTIMG = (sys.executable, "-m", "gptimg")
HOSTILE = "evil\x1b]0;pwned\x07 \x1b[2J tab\there\nnewline \u202eesrever 狐狸が雪の中で遊んでいる " + "long " * 40


def _width(line: str) -> int:
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def _seed(runner: CliRunner, tmp_path: Path) -> dict[str, str]:
    """A journal with one job of each kind, written through the journal's own API."""
    out = tmp_path / "pictures" / "a folder with a long name" / "and more"
    out.mkdir(parents=True)
    journal = JobJournal(Path(runner.env["GPTIMG_HOME"]) / "journal.sqlite3")
    ids: dict[str, str] = {}
    specs = [
        ("done", "a red fox in the snow", "ghibli_anime", 2, 300.0),
        ("done", HOSTILE, None, 1, 150.0),
        ("running", "a shiba inu on a skateboard", "pixel_art", 1, 150.0),
        ("error", "a castle made of glass", "watercolor", 1, 150.0),
    ]
    for number, (status, prompt, style, n, credits) in enumerate(specs):
        row = journal.record_submit(gateway="https://agentools.uno", prompt=prompt, style=style, size="1024x1024",
                                    n=n, out_dir=str(out))
        job_id = f"{number:02d}aabbccddee"
        journal.record_job_id(row, job_id, estimated_seconds=150, credits_used=credits)
        if status == "done":
            files = [str(out / f"{job_id}-{i}.png") for i in range(1, n + 1)]
            for path in files[:1]:
                Path(path).write_bytes(b"png")
            journal.mark_running(job_id)
            journal.mark_done(job_id, [{"url": "https://cdn.example/x.png"}] * n, files)
        elif status == "running":
            journal.mark_running(job_id)
        else:
            journal.mark_error(job_id, "the model refused \x1b[31m")
        ids[prompt.split()[1] if status != "done" or prompt != HOSTILE else "hostile"] = job_id
    unknown = journal.record_submit(gateway="https://agentools.uno", prompt="lost submit", style=None,
                                    size="1024x1024", n=1)
    journal.mark_unknown(unknown, "interrupted while the submit was in flight")
    journal.close()
    return ids


def _in_pty(runner: CliRunner, *args: str, columns: int = 80) -> str:
    """Run ``gptimg ARGS`` with stdout on a pseudo-terminal of ``columns`` columns; its output."""
    controller, terminal = pty.openpty()
    env = {**runner.env, "COLUMNS": str(columns), "LINES": "40", "TERM": "xterm"}
    process = subprocess.Popen([*GPTIMG, *args], env=env, cwd=runner.cwd, stdin=subprocess.DEVNULL,
                               stdout=terminal, stderr=subprocess.PIPE)
    os.close(terminal)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    process.wait(timeout=60)
    os.close(controller)
    assert process.returncode == 0, process.stderr.read() if process.stderr else ""
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


@pytest.mark.parametrize("columns", [80, 120])
def test_one_line_per_job_within_the_terminal_width(
    cli_runner: Callable[..., CliRunner], tmp_path: Path, columns: int
) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    ids = _seed(runner, tmp_path)
    text = _in_pty(runner, "jobs", columns=columns)
    lines = text.rstrip("\n").split("\n")
    assert all(_width(line) <= columns for line in lines), [(len(line), line) for line in lines]
    assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    header, *jobs, totals = lines
    assert header.split()[:3] == ["time", "status", "id"]
    assert len(jobs) == 5  # one line per job, the hostile prompt included
    assert jobs[-1].split()[3] == ids["red"] and "a red fox" in jobs[-1]
    assert "ghibli" in jobs[-1] and jobs[-1].endswith("more/ (2)")  # which folder, how many files
    assert any(line.split()[3].startswith("#") and "unknown" in line for line in jobs)  # no job id: its row
    assert totals.startswith("5 jobs") and "3 images" in totals and "750 credits" in totals


def test_tsv_on_a_pipe_has_a_header_full_prompts_and_full_paths(
    cli_runner: Callable[..., CliRunner], tmp_path: Path
) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    ids = _seed(runner, tmp_path)
    done = runner.run(*GPTIMG, "jobs", env={"COLUMNS": "80"})
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.rstrip("\n").split("\n")
    columns = header.split("\t")
    assert columns[:3] == ["created_at", "status", "job_id"] and columns[-1] == "files"
    assert len(rows) == 5
    by_id = {row.split("\t")[2]: row.split("\t") for row in rows}
    fox = by_id[ids["red"]]
    assert fox[columns.index("prompt")] == "a red fox in the snow"
    assert fox[columns.index("files"):] == [
        str(tmp_path / "pictures" / "a folder with a long name" / "and more" / f"{ids['red']}-{i}.png") for i in (1, 2)
    ]
    hostile = by_id[ids["hostile"]][columns.index("prompt")]
    assert "\x1b" not in done.stdout and "\u202e" not in done.stdout
    assert hostile.startswith("evil\\x1b]0;pwned\\x07 \\x1b[2J tab\\there\\nnewline \\u202eesrever 狐狸")
    assert hostile.endswith("long " * 39 + "long ")  # never cut


def test_filters_narrow_the_listing(cli_runner: Callable[..., CliRunner], tmp_path: Path) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    ids = _seed(runner, tmp_path)

    def listed(*args: str) -> list[str]:
        return [row["job_id"] for row in runner.run_json(*GPTIMG, "jobs", "--json", *args)["data"]]

    assert listed("--search", "FOX") == [ids["red"]]
    assert listed("--search", "100%_") == []  # LIKE wildcards are literal
    assert set(listed("--status", "error,running")) == {ids["castle"], ids["shiba"]}
    assert listed("--style", "pixel_art") == [ids["shiba"]]
    assert len(listed("--since", "1h")) == 5
    assert listed("--since", "2999-01-01") == []
    assert listed("--status", "done", "--limit", "1") == [ids["hostile"]]
    wrong = runner.run(*GPTIMG, "jobs", "--status", "finished")
    assert wrong.returncode == 2 and "Unknown status 'finished'" in wrong.stderr and "Traceback" not in wrong.stderr
    bad_since = runner.run(*GPTIMG, "jobs", "--since", "last tuesday")
    assert bad_since.returncode == 2 and "--since" in bad_since.stderr


def test_jobs_show_tells_the_whole_story(cli_runner: Callable[..., CliRunner], tmp_path: Path) -> None:
    runner = cli_runner("http://127.0.0.1:9")
    ids = _seed(runner, tmp_path)
    story = runner.run_json(*GPTIMG, "jobs", "show", ids["red"], "--json")["data"]
    assert story["job"]["prompt"] == "a red fox in the snow"
    assert [event["status"] for event in story["history"]] == ["submitting", "submitted", "running", "done"]
    assert [item["exists"] for item in story["files"]] == [True, False]
    assert story["resume_command"] == f"gptimg result {ids['red']} --base-url https://agentools.uno"

    running = _in_pty(runner, "jobs", "show", ids["shiba"])
    assert f"gptimg result {ids['shiba']}" in running and "submitting" in running and "running" in running

    failed = _in_pty(runner, "jobs", "show", ids["castle"])
    assert "the model refused \\x1b[31m" in failed and "\x1b" not in failed and "gptimg result" not in failed

    missing = runner.run(*GPTIMG, "jobs", "show", "nope")
    assert missing.returncode == 2 and "No job 'nope'" in missing.stderr


def test_a_submit_a_stopped_process_left_reads_unknown_everywhere(
    cli_runner: Callable[..., CliRunner], tmp_path: Path
) -> None:
    import sqlite3

    runner = cli_runner("http://127.0.0.1:9")
    _seed(runner, tmp_path)
    with sqlite3.connect(str(Path(runner.env["GPTIMG_HOME"]) / "journal.sqlite3")) as db:
        db.execute("INSERT INTO jobs (created_at, updated_at, status, gateway, prompt)"
                   " VALUES ('2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 'submitting', 'x', 'stale fox')")
    tsv = runner.run(*GPTIMG, "jobs", "--search", "stale")
    [row] = [line.split("\t") for line in tsv.stdout.splitlines()[1:]]
    assert row[1] == "unknown", tsv.stdout
    unknown = runner.run_json(*GPTIMG, "jobs", "--status", "unknown", "--json")["data"]
    assert sorted(item["prompt"] for item in unknown) == ["lost submit", "stale fox"]
    assert "may have been charged" in next(i for i in unknown if i["prompt"] == "stale fox")["error"]
    assert runner.run_json(*GPTIMG, "jobs", "--status", "submitting", "--json")["data"] == []
