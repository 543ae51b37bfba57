"""Start-up paths that must stay light: what they load is behaviour a person waits for on every run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

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


#: What typer's help renderer imports and never uses for our help (Markdown help, pretty tracebacks).
UNUSED_BY_HELP = ("rich.markdown", "rich.traceback", "rich.syntax", "rich.pretty", "pygments", "markdown_it")


@pytest.mark.e2e
def test_help_renders_with_rich_without_loading_markdown_or_tracebacks() -> None:
    probe = (
        "import sys\n"
        "from gptimg.cli import main\n"
        "code = main(['generate', '--help'])\n"
        f"unused = sorted(m for m in sys.modules if m.startswith({UNUSED_BY_HELP!r}))\n"
        "rich_help = 'typer.rich_utils' in sys.modules and 'rich.columns' in sys.modules\n"
        "print('PROBE', code, rich_help, unused, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60,
                          env={**_plain_env(), "COLUMNS": "100"})
    assert "PROBE 0 True []" in done.stderr, done.stderr[-2000:]
    assert "Usage: gptimg generate" in done.stdout and "Examples" in done.stdout and "[bold]" not in done.stdout


@pytest.mark.e2e
def test_the_deferred_classes_are_the_real_ones_when_used() -> None:
    probe = (
        "import sys\n"
        "from gptimg.cli import light_help\n"
        "light_help.install()\n"
        "import typer.rich_utils as ru\n"
        "before = 'rich.markdown' in sys.modules\n"
        "made = ru.Markdown('# hi')\n"
        "import rich.markdown, rich.traceback\n"
        "print(before, type(made) is rich.markdown.Markdown, isinstance(made, ru.Markdown),\n"
        "      ru.Traceback.from_exception is not None, type(sys.modules['rich.markdown']).__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["False", "True", "True", "True", "module"], done.stderr[-2000:]


def _plain_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR", "TERM")}


@pytest.mark.e2e
def test_each_command_is_registered_by_the_module_the_index_names() -> None:
    probe = (
        "import json, sys\n"
        "from gptimg.cli import command_modules\n"
        "from gptimg.cli.app import app\n"
        "import gptimg.cli.commands\n"
        "names = {c.name: c.callback.__module__ for c in app.registered_commands}\n"
        "names.update({g.name: g.typer_instance.registered_commands[0].callback.__module__\n"
        "              for g in app.registered_groups})\n"
        "print(json.dumps([names, command_modules.COMMAND_MODULES]))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    registered, index = json.loads(done.stdout)
    assert {name: module.rsplit(".", 1)[1] for name, module in registered.items()} == index


@pytest.mark.e2e
@pytest.mark.parametrize(("argv", "loaded", "not_loaded"), [
    (["--json", "styles"], "gptimg.cli.styles_cmd", "gptimg.cli.batch_cmd"),
    (["--base-url", "http://127.0.0.1:9", "generate", "x", "--dry-run", "--json"], "gptimg.cli.generate_flow",
     "typer"),  # a spelled-out generate line is read without Typer (quick_line)
    (["batch", "m.jsonl", "--dry-run", "--json"], "gptimg.cli.batch_flow", "typer"),  # so is a batch line
    (["generate", "x", "-n1", "--dry-run", "--json"], "gptimg.cli.generate_cmd", "gptimg.cli.mcp_cmd"),
    (["--help"], "gptimg.cli.mcp_cmd", None),
    (["generat", "x"], "gptimg.cli.mcp_cmd", None),
])
def test_a_command_line_loads_the_command_it_names(argv: list[str], loaded: str, not_loaded: str | None) -> None:
    probe = (
        "import sys\n"
        "from gptimg.cli import main\n"
        f"code = main({argv!r})\n"
        f"print('PROBE', {loaded!r} in sys.modules, {not_loaded!r} in sys.modules, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert "PROBE True False" in done.stderr, done.stderr[-2000:]


@pytest.mark.e2e
def test_a_spelled_out_paid_generate_runs_without_typer_or_inspect(
    sandbox: Any, logged_in: str, tmp_path: Path
) -> None:
    """The line agents run for every image: Typer, ``inspect`` (via ``dataclasses``) and ``hashlib`` (OpenSSL)
    were over a third of its start."""
    probe = (
        "import sys\n"
        "from gptimg.cli import main\n"
        f"code = main(['generate', 'a red fox', '--yes', '--json', '--out', {str(tmp_path)!r}])\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'typer', 'click', 'inspect', 'hashlib'})\n"
        "print('PROBE', code, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    # From Python 3.12 every dataclass reads ``inspect.get_annotations``, so there it is loaded.
    expected = ["inspect"] if sys.version_info >= (3, 12) else []
    assert f"PROBE 0 {expected!r}" in done.stderr, done.stderr[-2000:]
    assert json.loads(done.stdout)["data"]["status"] == "done"
    assert len(list(tmp_path.iterdir())) == 1
