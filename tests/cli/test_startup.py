"""Start-up paths that must stay light: what they load is behaviour a person waits for on every run."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.e2e
def test_version_prints_the_same_line_without_loading_typer_or_the_commands() -> None:
    probe = (
        "import sys\n"
        "from gptimg.cli import main\n"
        "code = main(['--version'])\n"
        "print(code, 'typer' in sys.modules, 'gptimg.cli.app' in sys.modules)\n"
    )
    fast = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    first, second = fast.stdout.splitlines()
    assert second == "0 False False"
    # The same words Typer's eager --version option prints (still reachable as `gptimg --json --version`).
    full = subprocess.run([sys.executable, "-m", "gptimg", "--json", "--version"], capture_output=True, text=True,
                          timeout=60)
    assert first == full.stdout.strip()
    assert first.startswith("gptimg ") and full.returncode == 0
