"""The MCP Inspector's CLI (the reference client in Node) lists the tools and calls ``list_styles``.

A second, independent client, so the server is not only tested against the SDK it
is built on. Skipped, saying why, where Node (npx) is missing or the package cannot
be fetched within :data:`FETCH_TIMEOUT`; once fetched, every run must answer
right within :data:`CALL_TIMEOUT`, or the test fails. npm's cache lives in the
system temp folder, so the download happens once per machine, never in a home.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from e2e.conftest import make_cli_env
from gptimg.styles import STYLES

from .conftest import require_sdk

require_sdk()

pytestmark = pytest.mark.e2e

INSPECTOR = "@modelcontextprotocol/inspector@0.15.0"
#: First use downloads the inspector (~90 s seen on a slow link); longer than this counts as unreachable.
FETCH_TIMEOUT = 300
#: One inspector run against the cached package (server start-up included).
CALL_TIMEOUT = 120


def npm_env(home: Path) -> dict[str, str]:
    env = make_cli_env("http://127.0.0.1:9", home)
    env.update({
        "npm_config_cache": str(Path(tempfile.gettempdir()) / "gptimg-tests-npm-cache"),
        "npm_config_update_notifier": "false",
        "npm_config_fund": "false",
        "npm_config_audit": "false",
        "npm_config_prefer_offline": "true",
    })
    return env


def fetch_inspector(npx: str, env: dict[str, str], cwd: Path) -> None:
    """Download (or find cached) the inspector, or skip saying why."""
    try:
        done = subprocess.run(
            [npx, "-y", "-p", INSPECTOR, "-c", "exit 0"],
            env=env, cwd=cwd, capture_output=True, text=True, timeout=FETCH_TIMEOUT, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"could not fetch {INSPECTOR} with npx within {FETCH_TIMEOUT} s (no npm registry?)")
    if done.returncode != 0:
        tail = " ".join(done.stderr.strip().splitlines()[-2:])[:300]
        pytest.skip(f"could not fetch {INSPECTOR} with npx: {tail}")


def inspect(npx: str, env: dict[str, str], cwd: Path, *method: str) -> Any:
    server_env = [f"{name}={env[name]}" for name in ("PYTHONPATH", "HOME", "GPTIMG_HOME", "NO_PROXY")]
    command = [npx, "-y", INSPECTOR, "--cli"]
    for pair in server_env:
        command += ["-e", pair]
    command += [sys.executable, "-m", "gptimg", "mcp", "--sandbox", *method]
    done = subprocess.run(
        command, env=env, cwd=cwd, capture_output=True, text=True, timeout=CALL_TIMEOUT, stdin=subprocess.DEVNULL
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_the_mcp_inspector_lists_the_tools_and_calls_list_styles(tmp_path: Path) -> None:
    npx = shutil.which("npx")
    if npx is None:
        pytest.skip("Node.js is not installed (no npx on PATH): the MCP Inspector cannot run here")
    env = npm_env(tmp_path)
    fetch_inspector(npx, env, tmp_path)

    listed = inspect(npx, env, tmp_path, "--method", "tools/list")
    tools = {tool["name"]: tool for tool in listed["tools"]}
    assert set(tools) == {"generate_image", "get_job", "list_jobs", "list_styles", "account"}
    assert tools["generate_image"]["annotations"]["idempotentHint"] is False
    assert tools["list_styles"]["annotations"]["readOnlyHint"] is True

    called = inspect(npx, env, tmp_path, "--method", "tools/call", "--tool-name", "list_styles")
    assert not called.get("isError")
    styles = json.loads(called["content"][0]["text"])["styles"]
    assert [style["key"] for style in styles] == list(STYLES)
