"""Driving ``gptimg mcp`` as a real subprocess with the MCP SDK's own stdio client.

``mcp_server(*args, **env)`` gives an :class:`McpServer`: a throw-away HOME and
journal, and ``connect()`` to open a ``ClientSession`` on a fresh server process
(``elicit=`` answers the consent form; without it the client declares no
elicitation). Every test runs under :data:`SCENARIO_TIMEOUT`, so a server that
stops answering fails the test instead of hanging CI. Tests are skipped, saying
why, where the SDK (the ``mcp`` extra, Python 3.10+) is not installed.
"""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import pytest

from e2e.conftest import make_cli_env
from gptimg.jobs.journal import JOURNAL_FILENAME, JobJournal, JobRecord

if TYPE_CHECKING:
    import mcp_types
    from mcp.client.session import ClientSession

#: Longest any one scenario may take, server start-up included, before the test fails.
SCENARIO_TIMEOUT = 90.0
#: The sandbox's job duration for these tests: long enough to cancel a call mid-wait.
JOB_SECONDS = "3"

Elicit = Callable[[Any, Any], Any]


def require_sdk() -> None:
    """Skip (saying why) where ``gptimg mcp`` cannot run: call at the top of each MCP test module."""
    if sys.version_info < (3, 10):
        pytest.skip("the MCP SDK needs Python 3.10+, so `gptimg mcp` is not available here", allow_module_level=True)
    pytest.importorskip("mcp.client.stdio", reason="the MCP SDK is not installed (pip install 'gptimg[mcp]')")


def payload(result: mcp_types.CallToolResult) -> dict[str, Any]:
    """The JSON a tool answered (its first text block)."""
    first = result.content[0]
    assert first.type == "text", result
    return json.loads(first.text)


def all_text(result: mcp_types.CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def answering(action: str, content: dict[str, Any] | None = None, asked: list[str] | None = None) -> Elicit:
    """An elicitation callback that answers ``action`` and records each question asked."""

    async def elicit(context: Any, params: Any) -> mcp_types.ElicitResult:
        import mcp_types

        if asked is not None:
            asked.append(params.message)
        return mcp_types.ElicitResult(action=action, content=content)

    return elicit


@dataclass
class McpServer:
    """One user's environment for ``gptimg mcp`` (HOME, journal, stderr log) and its arguments."""

    home: Path
    env: dict[str, str]
    args: list[str]
    stderr_log: Path

    @property
    def journal_path(self) -> Path:
        return self.home / "gptimg-data" / JOURNAL_FILENAME

    def jobs(self) -> list[JobRecord]:
        """Every journal row (one per submit attempt), read while or after the server runs."""
        if not self.journal_path.exists():
            return []
        with JobJournal(self.journal_path) as journal:
            return journal.recent(1000)

    def stderr(self) -> str:
        return self.stderr_log.read_text(errors="replace") if self.stderr_log.exists() else ""

    @asynccontextmanager
    async def connect(self, *extra: str, elicit: Elicit | None = None) -> AsyncIterator[ClientSession]:
        from mcp.client.session import ClientSession
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(
            command=sys.executable, args=["-m", "gptimg", "mcp", *self.args, *extra], env=self.env, cwd=self.home
        )
        with self.stderr_log.open("a", encoding="utf-8") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write):
                async with ClientSession(read, write, elicitation_callback=elicit) as session:
                    await session.initialize()
                    yield session


@pytest.fixture
def mcp_server(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., McpServer]:
    """``mcp_server("--sandbox", GPTIMG_SANDBOX_DELAY="3")``: a server environment with its own HOME."""

    def make(*args: str, base_url: str = "http://127.0.0.1:9", **extra: str) -> McpServer:
        home = tmp_path_factory.mktemp("mcphome")
        extra.setdefault("GPTIMG_SANDBOX_DELAY", JOB_SECONDS)
        env = make_cli_env(base_url, home, **extra)
        env.pop("PYTHONUNBUFFERED", None)
        assert "UNO_API_KEY" in extra or "UNO_API_KEY" not in env
        return McpServer(home=home, env=env, args=list(args), stderr_log=home / "server-stderr.log")

    return make


def run_scenario(scenario: Callable[[], Any]) -> Any:
    """Run an async scenario under the overall time bound."""
    import anyio

    async def bounded() -> Any:
        with anyio.fail_after(SCENARIO_TIMEOUT):
            return await scenario()

    return anyio.run(bounded)

