"""A signal at the worst moment: SIGTERM while the paid submit is in flight.

The host may stop the server at any time. From the moment the submit left, its
job id must reach the journal (so ``gptimg result`` or ``get_job`` can finish
it), and the server must still end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from gptimg.image_tool import SUBMIT_TOOL
from reliability.scripted import Answer, Request, ScriptedGateway

from .conftest import McpServer, payload, require_sdk, run_scenario

require_sdk()

pytestmark = pytest.mark.e2e

KEY = "uno_signal_" + "0123456789abcdef" * 2


def held_submit_gateway() -> tuple[ScriptedGateway, threading.Event, threading.Event]:
    """A gateway whose submit arrives (``arrived`` is set) and is answered only once ``release`` is set."""
    arrived, release = threading.Event(), threading.Event()
    gateway = ScriptedGateway()
    healthy_submit = gateway.routes[f"CALL {SUBMIT_TOOL}"]

    def slow_submit(request: Request) -> Answer:
        arrived.set()
        release.wait(30)
        return healthy_submit(request) if callable(healthy_submit) else healthy_submit

    gateway.routes[f"CALL {SUBMIT_TOOL}"] = slow_submit
    return gateway, arrived, release


def test_sigterm_while_the_submit_is_in_flight_keeps_the_job_id(mcp_server: Any) -> None:
    gateway, arrived, release = held_submit_gateway()
    with gateway:
        server: McpServer = mcp_server("--allow-spend", "300", base_url=gateway.base_url, UNO_API_KEY=KEY)

        async def scenario() -> None:
            async with server.connect() as session:

                async def call() -> None:
                    with pytest.raises(Exception, match="(?i)closed"):  # the server went away mid-call
                        await session.call_tool("generate_image", {"prompt": "a fox"})

                async with anyio.create_task_group() as group:
                    group.start_soon(call)
                    await anyio.to_thread.run_sync(arrived.wait, 30)
                    pid = int(re.search(r"pid (\d+)", server.stderr()).group(1))
                    os.kill(pid, signal.SIGTERM)
                    release.set()

        run_scenario(scenario)
        assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 1
    assert "Terminated." in server.stderr()
    jobs = server.jobs()
    assert [(job.job_id, job.status) for job in jobs] in (
        [(gateway.job_id, "submitted")], [(gateway.job_id, "running")], [(gateway.job_id, "done")]
    ), [job.to_dict() for job in jobs]


def test_a_call_cancelled_while_the_submit_is_in_flight_leaves_a_job_gptimg_result_finishes(
    mcp_server: Any, tmp_path: Any
) -> None:
    gateway, arrived, release = held_submit_gateway()
    with gateway:
        server: McpServer = mcp_server("--allow-spend", "300", base_url=gateway.base_url, UNO_API_KEY=KEY)

        async def scenario() -> list[Any]:
            async with server.connect() as session:
                async with anyio.create_task_group() as group:
                    group.start_soon(session.call_tool, "generate_image", {"prompt": "a fox"})
                    await anyio.to_thread.run_sync(arrived.wait, 30)
                    group.cancel_scope.cancel()  # the host gives up while the paid request is on the wire
                release.set()
                # The server is still there and answers; the job is listed once its id is journalled.
                listed: list[Any] = []
                while not listed or listed[0]["job_id"] is None:
                    listed = payload(await session.call_tool("list_jobs", {}))["jobs"]
                return listed

        listed = run_scenario(scenario)
        assert [(job["job_id"], job["status"]) for job in listed] == [(gateway.job_id, "submitted")]
        # The terminal finishes it from the same journal.
        env = dict(server.env, UNO_API_KEY=KEY)
        done = subprocess.run(
            [sys.executable, "-m", "gptimg", "result", gateway.job_id, "--out", str(tmp_path), "--json"],
            env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, done.stderr
        assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 1
    saved = json.loads(done.stdout)["data"]["items"]
    assert len(saved) == 1 and Path(saved[0]["path"]).read_bytes()[:4] == b"\x89PNG"
    assert [job.status for job in server.jobs()] == ["done"]
