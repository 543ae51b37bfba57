"""Time and memory are bounded, and downloads behave, whatever the gateway sends.

Real ``gptimg`` processes against a scripted loopback gateway that compresses,
dribbles, rate-limits for ever, lists more images than were paid for, or answers
with decompression bombs.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest
from tests.sandbox.pngcheck import without_provenance

from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL

from .conftest import GPTIMG, Cli, assert_only_complete_pngs
from .scripted import PNG, Answer, Request, ScriptedGateway

#: Every test here runs the real CLIs as processes.
pytestmark = pytest.mark.e2e

KEY = "uno_bounds_" + "3" * 32
JOB = "0b84b8f0f0c8"
#: Nothing a single request may take is longer than this in the fixed code; the old code took minutes.
PATIENCE = 45


def test_a_gzip_encoded_image_saves(make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]) -> None:
    gateway = make_scripted({
        "GET /cdn/": Answer(body=gzip.compress(PNG), content_type="image/png", headers={"Content-Encoding": "gzip"}),
    })
    user = cli(gateway.base_url)
    user.login(KEY)
    out = user.home / "out"
    ran = user.gptimg("generate", "a fox", "--yes", "--out", str(out))
    assert ran.code == 0, ran
    [saved] = assert_only_complete_pngs(out)
    assert without_provenance(saved.read_bytes()) == PNG  # decoded, whole (plus gptimg's own record chunks)
    assert gateway.seen("GET /cdn/")[0].headers.get("accept-encoding") == "identity"


def test_a_result_dribbling_a_byte_a_second_is_abandoned_at_the_timeout(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    slow = {"data": {"status": "running", "job_id": JOB, "padding": "x" * 600}}
    gateway = make_scripted({f"CALL {RESULT_TOOL}": Answer(body=slow, drip=1.0)})
    user = cli(gateway.base_url)
    user.login(KEY)
    began = time.monotonic()
    ran = user.gptimg("result", JOB, "--timeout", "3", "--out", str(user.home / "out"), timeout=PATIENCE)
    took = time.monotonic() - began
    assert ran.code != 0 and "Traceback" not in ran.err, ran
    assert JOB in ran.err  # the job is named, so it can be fetched later
    assert took < PATIENCE  # the 600-byte answer alone would have taken ten minutes


def test_a_retry_after_longer_than_the_timeout_is_not_waited_out(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    limited = Answer(429, {"error": "rate_limit_exceeded", "message": "slow down"}, headers={"Retry-After": "110"})
    gateway = make_scripted({f"CALL {RESULT_TOOL}": limited})
    user = cli(gateway.base_url)
    user.login(KEY)
    ran = user.gptimg("result", JOB, "--timeout", "2", "--out", str(user.home / "out"), timeout=PATIENCE)
    assert ran.code != 0 and "Traceback" not in ran.err, ran
    assert len(gateway.seen(f"CALL {RESULT_TOOL}")) == 1  # asked once, then gave up instead of sleeping 110 s


def test_a_done_answer_with_more_images_than_asked_saves_only_those_asked_and_says_so(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    def many(request: Request) -> Answer:
        urls = [f"{gateway.base_url}/cdn/{JOB}/{index}.png" for index in range(50)]
        return Answer(body={"data": gateway.done(request.arguments.get("job_id"), urls)})

    gateway = make_scripted({f"CALL {RESULT_TOOL}": many})
    user = cli(gateway.base_url)
    user.login(KEY)
    out = user.home / "out"
    ran = user.gptimg("generate", "a fox", "-n", "2", "--yes", "--out", str(out))
    assert ran.code == 0, ran
    assert len(assert_only_complete_pngs(out)) == 2
    assert len(gateway.seen("GET /cdn/")) == 2
    assert "50 images but 2 were asked" in ran.err
    listed = user.gptimg("jobs", "--json").json()["data"]
    assert [len(row.get("items") or []) for row in listed] == [2]


def test_hidden_partials_left_by_a_killed_download_are_removed_by_the_next_run(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = make_scripted()
    user = cli(gateway.base_url)
    user.login(KEY)
    out = user.home / "out"
    out.mkdir()
    stale = out / ".a-fox-job1-abc123.part"
    stale.write_bytes(PNG[:10])
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    live = out / ".a-cat-job2-def456.part"  # another process's download, still being written
    live.write_bytes(PNG[:10])
    mine = out / ".notes.part.txt"  # not a name gptimg makes
    mine.write_text("keep")
    os.utime(mine, (hour_ago, hour_ago))
    ran = user.gptimg("generate", "a fox", "--yes", "--out", str(out))
    assert ran.code == 0, ran
    assert not stale.exists()
    assert live.exists() and mine.exists()


def test_a_batch_facing_decompression_bombs_stays_small(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path
) -> None:
    # 64 KiB of gzip that inflates to 64 MiB: each answer would be read whole before the size cap saw it.
    bomb = gzip.compress(b" " * (64 * 1024 * 1024), compresslevel=9)
    bombed = Answer(body=bomb, content_type="application/json", headers={"Content-Encoding": "gzip"})
    submits: list[int] = []

    def submit(request: Request) -> Answer:
        submits.append(1)
        job_id = f"bomb{len(submits):08d}"
        return Answer(body={"data": {"status": "pending", "job_id": job_id, "estimated_seconds": 1},
                            "meta": {"credits_used": 300}})

    gateway = make_scripted({f"CALL {RESULT_TOOL}": bombed, f"CALL {SUBMIT_TOOL}": submit})
    user = cli(gateway.base_url)
    user.login(KEY)
    manifest = user.home / "jobs.jsonl"
    manifest.write_text("".join(json.dumps({"prompt": f"fox {i}", "name": f"fox{i}"}) + "\n" for i in range(8)))
    measure = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], stdin=subprocess.DEVNULL, capture_output=True); "
        "sys.stderr.buffer.write(done.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    argv = [*GPTIMG, "batch", str(manifest), "--yes", "--concurrency", "8", "--out", str(user.home / "out")]
    done = subprocess.run([sys.executable, "-c", measure, *argv], env=user.env, cwd=user.home,
                          capture_output=True, text=True, timeout=300)
    peak_mib = int(done.stdout.strip()) / 1024  # ru_maxrss is in KiB on Linux
    assert "Traceback" not in done.stderr, done.stderr
    assert len(gateway.seen(f"CALL {RESULT_TOOL}")) >= 8
    assert peak_mib < 256, f"peak RSS {peak_mib:.0f} MiB"
