"""The scheduler against the in-process sandbox: resume without a second submit, the credit cap, flaky polls, stop."""

from __future__ import annotations

import html.parser
import threading
from pathlib import Path
from typing import Callable

import pytest

from gptimg.batch import report
from gptimg.batch.contact_sheet import write_contact_sheet
from gptimg.batch.manifest import parse_manifest
from gptimg.batch.ratelimit import RateLimiter
from gptimg.batch.runner import ATTENTION, FETCH, HAVE, NEW, RESUME, BatchRunner, same_gateway
from gptimg.gateway import GatewayClient
from gptimg.jobs import JobJournal, submit_job
from gptimg.jobs.journal import DONE
from gptimg.params import GenerationRequest
from gptimg.sandbox import SandboxConfig, SandboxGateway

from .conftest import jsonl, manifest_lines

MakeRunner = Callable[..., BatchRunner]


def submits(sandbox: SandboxGateway) -> int:
    return int(sandbox.stats()["submits"])


def test_every_line_is_submitted_once_and_saved_under_its_name(
    make_runner: MakeRunner, sandbox: SandboxGateway, out_dir: Path
) -> None:
    lines = manifest_lines(9)
    results = make_runner(lines, concurrency=4).run()
    assert [r.status for r in results] == [report.DONE] * 9
    assert submits(sandbox) == 9
    for result in results:
        (file,) = result.files
        path = Path(file)
        assert path.parent == out_dir and path.is_file()
        assert path.name.startswith(f"{result.line.name}-{result.job_id}-1")


def test_a_second_run_submits_nothing_and_reports_already_done(
    make_runner: MakeRunner, sandbox: SandboxGateway
) -> None:
    lines = manifest_lines(5)
    make_runner(lines).run()
    before = sandbox.stats()["accounts"]
    rerun = make_runner(lines)
    assert [p.kind for p in rerun.plan()] == [HAVE] * 5
    results = rerun.run()
    assert {r.status for r in results} == {report.ALREADY_DONE}
    assert submits(sandbox) == 5
    assert sandbox.stats()["accounts"] == before
    assert rerun.tally.exit_code() == 0


def test_lines_submitted_by_a_killed_run_are_polled_not_resubmitted(
    make_runner: MakeRunner, client: GatewayClient, journal: JobJournal, sandbox: SandboxGateway, out_dir: Path
) -> None:
    lines = manifest_lines(6)
    # A previous run got as far as paying for the first three, then died.
    for line in lines[:3]:
        submit_job(client, journal, GenerationRequest(prompt=line.prompt, size=line.size, n=line.n),
                   out_dir=out_dir, batch_key=line.key, name=line.name)
    runner = make_runner(lines)
    assert [p.kind for p in runner.plan()] == [RESUME] * 3 + [NEW] * 3
    results = runner.run()
    assert [r.status for r in results] == [report.DONE] * 6
    assert submits(sandbox) == 6
    assert runner.tally.submits == 3


def test_only_jobs_an_earlier_run_paid_for_are_looked_for_under_other_labels(
    make_runner: MakeRunner, client: GatewayClient, journal: JobJournal, sandbox: SandboxGateway, out_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job this run submits cannot have been saved by an earlier run: its images are looked for under
    their own names only, and the folder it fills is never listed for it (the listing grew the run's memory
    with the folder). A job an earlier run paid for may have been saved under another label: still found."""
    from gptimg.jobs import naming

    lines = manifest_lines(6)
    earlier = [submit_job(client, journal, GenerationRequest(prompt=line.prompt, size=line.size, n=line.n),
                          out_dir=out_dir, batch_key=line.key, name=line.name).job_id for line in lines[:3]]
    out_dir.mkdir(parents=True, exist_ok=True)
    theirs = out_dir / f"an-old-label-{earlier[0]}-1.png"  # saved by the killed run under the label it had then
    theirs.write_bytes(b"\x89PNG\r\n\x1a\n" + b"saved before the crash")
    listed: list[Path] = []

    class CountedListing(naming._FolderListing):
        def __init__(self, directory: Path) -> None:
            listed.append(directory)
            super().__init__(directory)

    monkeypatch.setattr(naming, "_FolderListing", CountedListing)
    monkeypatch.setattr(naming, "LISTING_REUSE_SECONDS", -1.0)  # every lookup lists afresh: each one is seen
    naming._LISTINGS.clear()
    runner = make_runner(lines, concurrency=3)
    assert [p.kind for p in runner.plan()] == [RESUME] * 3 + [NEW] * 3
    results = runner.run()
    assert [r.status for r in results] == [report.DONE] * 6
    assert results[0].files == [str(theirs)], "the resumed job's image, saved under another label, is reused"
    assert theirs.read_bytes().endswith(b"saved before the crash")
    assert len(listed) == 3, "a listing for each resumed job (not found under its own name), none for new jobs"
    assert submits(sandbox) == 6


def test_a_done_line_whose_files_are_gone_is_downloaded_again_for_free(
    make_runner: MakeRunner, sandbox: SandboxGateway
) -> None:
    lines = manifest_lines(2)
    first = make_runner(lines).run()
    Path(first[0].files[0]).unlink()
    runner = make_runner(lines)
    assert [p.kind for p in runner.plan()] == [FETCH, HAVE]
    results = runner.run()
    assert Path(results[0].files[0]).is_file()
    assert submits(sandbox) == 2


def test_a_line_whose_submit_outcome_is_unknown_is_never_resubmitted(
    make_runner: MakeRunner, journal: JobJournal, sandbox: SandboxGateway, client: GatewayClient
) -> None:
    lines = manifest_lines(3)
    row = journal.record_submit(gateway=client.base_url, prompt=lines[1].prompt, style=None, size=lines[1].size,
                                n=1, batch_key=lines[1].key, name=lines[1].name)
    journal.mark_unknown(row, "connection dropped after sending")
    runner = make_runner(lines)
    assert [p.kind for p in runner.plan()] == [NEW, ATTENTION, NEW]
    results = runner.run()
    assert [r.status for r in results] == [report.DONE, report.UNKNOWN, report.DONE]
    assert "gptimg jobs" in (results[1].hint or "")
    assert submits(sandbox) == 2
    assert runner.tally.exit_code() == 7


def test_max_credits_is_a_hard_cap_and_later_lines_are_skipped(
    make_runner: MakeRunner, sandbox: SandboxGateway
) -> None:
    runner = make_runner(manifest_lines(8), concurrency=8, cost=300, max_credits=900)
    assert runner.submits_allowed() == 3
    results = runner.run()
    assert submits(sandbox) == 3
    assert [r.status for r in results] == [report.DONE] * 3 + [report.SKIPPED] * 5
    assert "--max-credits" in (results[-1].error or "")
    assert runner.tally.exit_code() == 5


def test_a_reused_name_with_another_prompt_is_a_new_request(make_runner: MakeRunner, sandbox: SandboxGateway) -> None:
    make_runner(parse_manifest(jsonl({"prompt": "old", "name": "hero"}), fmt="jsonl", base=Path.cwd())).run()
    edited = parse_manifest(jsonl({"prompt": "new", "name": "hero"}), fmt="jsonl", base=Path.cwd())
    runner = make_runner(edited)
    assert [p.kind for p in runner.plan()] == [NEW]


def test_a_failed_generation_does_not_stop_the_batch(make_runner: MakeRunner, sandbox: SandboxGateway) -> None:
    lines = parse_manifest(
        jsonl({"prompt": "fine 1"}, {"prompt": "please [sandbox:fail]"}, {"prompt": "fine 2"}),
        fmt="jsonl", base=Path.cwd(),
    )
    runner = make_runner(lines, concurrency=1)
    results = runner.run()
    assert [r.status for r in results] == [report.DONE, report.FAILED, report.DONE]
    assert results[1].code == "generation_failed" and results[1].job_id
    assert runner.tally.exit_code() == 5


@pytest.mark.parametrize("sandbox_config", [SandboxConfig(delay=0.2, fail_rate=0.3, seed=7, retry_after=0)])
def test_flaky_polls_still_deliver_every_image_with_one_submit_per_line(
    make_runner: MakeRunner, sandbox: SandboxGateway
) -> None:
    results = make_runner(manifest_lines(12), concurrency=6).run()
    assert [r.status for r in results] == [report.DONE] * 12
    assert submits(sandbox) == 12
    assert sandbox.stats()["injected_failures"] > 0


class StopAfter(RateLimiter):
    """Grants ``count`` submits, then behaves like a first Ctrl-C arriving."""

    def __init__(self, count: int, stop: Callable[[], None]) -> None:
        super().__init__(0)
        self.count = count
        self.stop = stop
        self.lock = threading.Lock()

    def acquire(self, stop: threading.Event | None = None) -> bool:
        with self.lock:
            self.count -= 1
            if self.count < 0:
                self.stop()
                return False
        return True


def test_the_stop_flag_ends_new_submits_but_finishes_paid_jobs(
    make_runner: MakeRunner, sandbox: SandboxGateway
) -> None:
    holder: list[BatchRunner] = []
    limiter = StopAfter(2, lambda: holder[0].request_stop())
    runner = make_runner(manifest_lines(6), concurrency=2, limiter=limiter)
    holder.append(runner)
    results = runner.run()
    assert submits(sandbox) == 2
    assert [r.status for r in results][:2] == [report.DONE, report.DONE]
    assert {r.status for r in results[2:]} == {report.SKIPPED}


def test_concurrency_bounds_the_jobs_in_flight(make_runner: MakeRunner, sandbox: SandboxGateway) -> None:
    runner = make_runner(manifest_lines(10), concurrency=3)
    peak = 0
    original = runner._await_job

    def spy(*args: object, **kwargs: object) -> report.LineResult | None:
        nonlocal peak
        peak = max(peak, runner.snapshot()["running"] + (0 if kwargs.get("counted") else 1))  # this one included
        return original(*args, **kwargs)  # type: ignore[arg-type]

    runner._await_job = spy  # type: ignore[method-assign]
    runner.run()
    assert 1 <= peak <= 3


def test_sandbox_jobs_never_count_for_the_real_gateway_and_real_hosts_count_for_each_other() -> None:
    assert same_gateway("http://127.0.0.1:5000", "http://127.0.0.1:5000")
    assert not same_gateway("http://127.0.0.1:5000", "https://agentools.uno")
    assert not same_gateway("http://127.0.0.1:5000", "http://127.0.0.1:5001")
    assert same_gateway("https://clawdtools.uno", "https://agentools.uno")


def test_the_contact_sheet_lists_every_image_escaped_and_self_contained(
    make_runner: MakeRunner, out_dir: Path
) -> None:
    lines = parse_manifest(
        jsonl({"prompt": "<script>alert(1)</script> & co", "name": "x", "n": 2}, {"prompt": "plain", "style": "pixar_3d"}),
        fmt="jsonl", base=Path.cwd(),
    )
    results = make_runner(lines).run()
    index = write_contact_sheet(results, out_dir)
    text = index.read_text("utf-8")
    assert "<script>" not in text and "&lt;script&gt;" in text

    class Collect(html.parser.HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.images: list[str] = []
            self.external: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            values = dict(attrs)
            if tag == "img":
                self.images.append(values["src"] or "")
            if tag in ("link", "script") or (values.get("src") or "").startswith(("http:", "https:", "//")):
                self.external.append(tag)

    parser = Collect()
    parser.feed(text)
    assert sorted(parser.images) == sorted(Path(f).name for r in results for f in r.files)
    assert len(parser.images) == 3
    assert parser.external == []
    assert "pixar_3d" in text and results[1].job_id in text


def test_an_index_html_that_is_not_ours_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<html>my site</html>")
    written = write_contact_sheet([], tmp_path)
    assert written.name == "gptimg-index.html"
    assert (tmp_path / "index.html").read_text() == "<html>my site</html>"
    assert write_contact_sheet([], tmp_path).name == "gptimg-index.html"


def test_journal_rows_carry_the_line_key_and_name(
    make_runner: MakeRunner, journal: JobJournal
) -> None:
    lines = manifest_lines(2)
    make_runner(lines).run()
    for line in lines:
        (row,) = journal.for_batch_key(line.key)
        assert row.status == DONE and row.name == line.name and row.files


def test_a_done_line_counts_as_saved_only_while_its_files_are_really_in_the_folder(tmp_path: Path) -> None:
    """Re-run planning: a plain file in --out is enough; a missing one, or a link leading elsewhere, is fetched."""
    import os

    from gptimg.batch.manifest import ManifestLine
    from gptimg.batch.plan import FETCH, HAVE, plan_line
    from gptimg.jobs.journal import DONE, JobRecord

    out = tmp_path / "out"
    out.mkdir()
    elsewhere = tmp_path / "elsewhere.png"
    elsewhere.write_bytes(b"\x89PNG\r\n\x1a\n")
    line = ManifestLine(line=1, key="k", prompt="fox", size="1024x1024", n=1)

    def plan_with(path: Path) -> str:
        record = JobRecord(id=1, created_at="t", updated_at="t", status=DONE, job_id="j1", gateway="https://gw.test",
                           account=None, prompt="fox", style=None, size="1024x1024", n=1, reference_urls=None,
                           estimated_seconds=None, credits_used=None,
                           files=[str(path)])
        return plan_line(line, [record], out, "https://gw.test").kind

    saved = out / "fox-j1-1.png"
    saved.write_bytes(b"\x89PNG\r\n\x1a\n")
    assert plan_with(saved) == HAVE
    assert plan_with(out / "fox-j1-1-missing.png") == FETCH
    link = out / "fox-j1-1-link.png"
    os.symlink(elsewhere, link)
    assert plan_with(link) == FETCH, "a link in --out that leads outside it is not a saved image"
    inner_link = out / "fox-j1-1-inner.png"
    os.symlink(saved, inner_link)
    assert plan_with(inner_link) == HAVE


def test_a_rerun_plans_from_one_folder_listing_without_trusting_what_is_not_a_plain_saved_file(
    make_runner: MakeRunner, sandbox: SandboxGateway, out_dir: Path, tmp_path: Path
) -> None:
    """The re-run's plan (a few columns and one listing) counts a line done only while its plain file is there."""
    import os
    import shutil

    lines = manifest_lines(6)
    first = make_runner(lines).run()
    files = [Path(r.files[0]) for r in first]
    elsewhere = tmp_path / "elsewhere.png"
    shutil.copy(files[1], elsewhere)
    files[0].unlink()  # deleted: fetched again
    files[1].unlink()
    os.symlink(elsewhere, files[1])  # a link leading out of --out: not a saved image
    files[2].unlink()
    files[2].mkdir()  # a folder of that name
    os.symlink(files[4].name, out_dir / "inner-link.png")  # unrelated: must not disturb anything
    rename = out_dir / "renamed.png"
    files[5].rename(rename)  # renamed by hand: its line's file is gone
    plan = make_runner(lines).plan()
    assert [p.kind for p in plan] == [FETCH, FETCH, FETCH, HAVE, HAVE, FETCH]
    assert [p.record.job_id for p in plan] == [r.job_id for r in first]
    assert plan[3].record.files == [str(files[3])]
    again = make_runner(lines, new_images=True).plan()
    assert {p.kind for p in again} == {"renew"}, "--new-images pays again for a finished line, whichever way it was planned"


@pytest.mark.parametrize("text", ['["/out/a.png"]', '["/out/a.png", "/out/\\u00e9 b.png"]', '[]', ' ["x"] ', '["x"]\n',
                                  '{"a": 1}', '"x"', '["x"] ["y"]', '["x"', '', 'nul'])
def test_the_plans_quick_read_of_a_files_column_is_json_loads_exactly(text: str) -> None:
    """The planner reads each done row's ``files`` with the C scanner alone; anything unusual is json.loads' own."""
    import json

    from gptimg.batch.plan import _json_list

    try:
        expected: object = json.loads(text)
    except ValueError as exc:
        with pytest.raises(ValueError, match=str(exc).split(":")[0]):
            _json_list(text)
    else:
        assert _json_list(text) == expected
