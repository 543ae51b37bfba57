"""``gptimg mcp`` is an optional extra: without it the rest of gptimg neither needs nor loads the MCP SDK.

These run everywhere, SDK installed or not: one hides the SDK behind a stub that
fails to import, the others read ``-X importtime`` to see every module a
start-up loaded.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e.conftest import REPO, make_cli_env

pytestmark = pytest.mark.e2e


def loaded_modules(*argv: str, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run ``python -X importtime ARGV``; the set of every module it imported."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], env=env, capture_output=True, text=True, timeout=60
    )
    modules = {
        line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    return done, modules


def mcp_modules(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in ("mcp", "mcp_types") or m.startswith("gptimg.mcp"))


@pytest.mark.parametrize(
    "argv",
    [
        ("-m", "gptimg", "--version"),
        ("-m", "gptimg", "--help"),
        (str(REPO / "bin" / "uno.py"), "--version"),
        (str(REPO / "bin" / "uno.py"), "whoami"),
    ],
    ids=["gptimg --version", "gptimg --help", "uno.py --version", "uno.py whoami"],
)
def test_start_up_does_not_import_the_mcp_sdk(tmp_path: Path, argv: tuple[str, ...]) -> None:
    done, modules = loaded_modules(*argv, env=make_cli_env("http://127.0.0.1:9", tmp_path))
    assert "gptimg" in modules or "gptimg.unocli" in modules or any(m.startswith("gptimg") for m in modules), done
    assert mcp_modules(modules) == []


def test_without_the_extra_gptimg_mcp_says_how_to_install_it_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "no-sdk"
    blocker.mkdir()
    (blocker / "mcp.py").write_text("raise ImportError('No module named mcp (hidden by the test)')\n")
    env = make_cli_env("http://127.0.0.1:9", tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([str(blocker), env["PYTHONPATH"]])
    done = subprocess.run(
        [sys.executable, "-m", "gptimg", "mcp", "--sandbox"],
        env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "pip install 'gptimg[mcp]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_negative_allowance_is_a_usage_error_before_anything_starts(tmp_path: Path) -> None:
    pytest.importorskip("mcp.server.mcpserver", reason="the MCP SDK is not installed (pip install 'gptimg[mcp]')")
    done = subprocess.run(
        [sys.executable, "-m", "gptimg", "mcp", "--sandbox", "--allow-spend", "-5"],
        env=make_cli_env("http://127.0.0.1:9", tmp_path), capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2, done
    assert "--allow-spend" in done.stderr and done.stdout == ""
