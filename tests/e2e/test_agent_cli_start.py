"""The agent CLI starts like a shell tool: fast, with nothing it does not need, even from a bare checkout."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO, SandboxProcess, make_cli_env

pytestmark = pytest.mark.e2e

HEAVY = ("httpx", "httpcore", "rich", "typer", "click", "pydantic", "anyio")
UNO = str(REPO / "bin" / "uno.py")
#: Runs bin/uno.py in-process and reports on stderr which heavy packages it loaded.
PROBE = (
    "import json, runpy, sys\n"
    "sys.argv = [sys.argv[1]] + sys.argv[2:]\n"
    "try:\n"
    "    runpy.run_path(sys.argv[0], run_name='__main__')\n"
    "except SystemExit as done:\n"
    "    code = done.code\n"
    f"heavy = sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))\n"
    "print('LOADED=' + json.dumps(heavy), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def probe(env: dict[str, str], *args: str) -> tuple[int, dict, list[str]]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, UNO, *args], env=env, capture_output=True, text=True, timeout=60
    )
    loaded = next(line for line in done.stderr.splitlines() if line.startswith("LOADED="))
    return done.returncode, json.loads(done.stdout), json.loads(loaded.removeprefix("LOADED="))


def test_version_and_dry_run_import_none_of_httpx_rich_or_typer(tmp_path: Path) -> None:
    env = make_cli_env("http://127.0.0.1:9", tmp_path)
    done = subprocess.run([sys.executable, "-c", PROBE, UNO, "--version"], env=env, capture_output=True, text=True)
    assert done.returncode == 0 and "uno.py" in done.stdout
    assert "LOADED=[]" in done.stderr
    code, out, loaded = probe(env, "call", "gpt-image-2.gpt_image2_submit", "--args", '{"prompt": "x"}', "--dry-run")
    assert (code, out["dry_run"], loaded) == (0, True, [])


#: What the no-network commands never need: each is milliseconds of every agent's call.
NOT_BEFORE_THE_NETWORK = ("typing", "shutil", "pathlib", "sqlite3", "ssl", "http.client", "gptimg.credentials",
                          "gptimg.gateway")


def loaded_by_documented_invocation(env: dict[str, str], *args: str) -> tuple[int, set[str]]:
    """``python3 -I -S bin/uno.py ARGS`` (SKILL.md's invocation): its exit code and every module it imported.

    Read from ``-X importtime`` rather than an in-process probe: ``runpy`` itself imports ``typing``.
    """
    done = subprocess.run([sys.executable, "-I", "-S", "-X", "importtime", UNO, *args], env=env,
                          capture_output=True, text=True, timeout=60)
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert "gptimg.unocli" in imported, done.stderr[-500:]
    return done.returncode, imported


@pytest.mark.parametrize("args", [("--version",), ("call", "gpt-image-2.gpt_image2_submit", "--args", '{"prompt": "x"}',
                                                    "--dry-run", "--compact")])
def test_version_and_dry_run_load_nothing_they_do_not_use(tmp_path: Path, args: tuple[str, ...]) -> None:
    env = make_cli_env("http://127.0.0.1:9", tmp_path)
    code, loaded = loaded_by_documented_invocation(env, *args)
    assert code == 0
    assert loaded & set(NOT_BEFORE_THE_NETWORK) == set()


def test_network_calls_use_the_standard_library_only(
    start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "0")
    key = sandbox.create_account("agent", "agent@example.invalid")
    env = make_cli_env(sandbox.url, tmp_path, UNO_API_KEY=key)
    code, out, loaded = probe(env, "whoami")
    assert (code, out["data"]["email"], loaded) == (0, "agent@example.invalid", [])
    code, out, loaded = probe(env, "call", "gpt-image-2.gpt_image2_submit", "--args", '{"prompt": "x"}')
    job = out["data"]["job_id"]
    code, out, loaded = probe(
        env, "call", "gpt-image-2.gpt_image2_result", "--args", json.dumps({"job_id": job, "wait_seconds": 5})
    )
    assert (code, out["data"]["status"], loaded) == (0, "done", [])


def test_a_call_to_a_plain_http_gateway_never_loads_ssl_typing_or_http_client(
    start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    """``ssl`` is loaded by the first https connection only (tests/unit/test_proxies.py has those);
    ``typing`` (5% of the call's instructions) was imported for named tuples and annotations alone;
    ``http.client`` imports the ``email`` package, 20-28 ms of every call (``gptimg.http_errors``)."""
    sandbox = start_sandbox("--delay", "0")
    key = sandbox.create_account("plain", "plain@example.invalid")
    env = make_cli_env(sandbox.url, tmp_path, UNO_API_KEY=key)
    code, loaded = loaded_by_documented_invocation(env, "whoami", "--compact")
    assert code == 0
    assert "gptimg.gateway.stdlib_wire" in loaded
    assert {"ssl", "_ssl", "typing", "http.client", "email", "email.message"} & loaded == set()


def test_a_bare_checkout_without_site_packages_still_works(
    start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "0")
    key = sandbox.create_account("bare", "bare@example.invalid")
    env = make_cli_env(sandbox.url, tmp_path, UNO_API_KEY=key)
    env.pop("PYTHONPATH", None)
    done = subprocess.run([sys.executable, "-S", UNO, "whoami", "--compact"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["email"] == "bare@example.invalid"


def test_when_a_dependency_is_needed_but_missing_it_says_how_to_install_in_one_json_line(tmp_path: Path) -> None:
    # Behind a SOCKS proxy (the standard-library wire speaks only http:// proxies) the agent CLI
    # needs httpx; -S hides site-packages.
    env = make_cli_env("https://gateway.invalid", tmp_path, UNO_API_KEY="uno_missing_deps_test_key_000000")
    env.pop("PYTHONPATH", None)
    env["HTTPS_PROXY"] = "socks5://127.0.0.1:9"
    done = subprocess.run([sys.executable, "-S", UNO, "whoami"], env=env, capture_output=True, text=True)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    payload = json.loads(lines[0])
    assert payload["success"] is False and payload["error"] == "missing_dependencies"
    assert "pip install" in payload["hint"] and str(REPO) in payload["hint"]
