"""The exported skill folder works as agents install it: copied, run on a bare ``python3 -I -S``.

Each test exports the skill to a temporary folder (``gptimg skill export``), starts
the sandbox gateway as a process, and drives ``DIR/bin/uno.py`` as an agent would.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gptimg.sandbox.images import render_image
from gptimg.skill_export import MANIFEST, export_skill, verify_skill

from .conftest import SandboxProcess, make_cli_env

pytestmark = pytest.mark.e2e

SUBMIT = "gpt-image-2.gpt_image2_submit"
RESULT = "gpt-image-2.gpt_image2_result"

#: The seed skill's "Reference Python loop", verbatim but for the script path (filled in by the test).
SEED_LOOP = '''
import json, subprocess, sys
UNO = "bin/uno.py"
def uno(args):
    r = subprocess.run(["python", UNO] + args, capture_output=True, text=True)
    return json.loads(r.stdout)
prompt = "Van Gogh starry night"
resp = uno(["call", "gpt-image-2.gpt_image2_submit", "--compact",
"--args", json.dumps({"prompt": prompt, "style": "oil_painting_vangogh"})])
job_id = resp["data"]["job_id"]
for _ in range(6):
    r = uno(["call", "gpt-image-2.gpt_image2_result", "--compact", "--timeout", "70",
    "--args", json.dumps({"job_id": job_id, "wait_seconds": 50})])
    status = r["data"]["status"]
    if status == "done":
        print(json.dumps(r, ensure_ascii=False, indent=2))
        break
    if status == "error":
        print("Error:", r["data"].get("error"), file=sys.stderr)
        sys.exit(1)
'''


@pytest.fixture
def skill(tmp_path: Path) -> Path:
    target = tmp_path / "skills" / "gpt-image2"
    export_skill(target)
    return target


class Agent:
    """Runs the exported ``bin/uno.py`` the way the issue asks: ``python3 -I -S``, no site-packages."""

    def __init__(self, skill: Path, env: dict[str, str]) -> None:
        self.skill = skill
        self.env = env

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-I", "-S", str(self.skill / "bin" / "uno.py"), *args, "--compact"],
            env=self.env, capture_output=True, text=True, timeout=120, cwd=self.skill,
        )

    def json(self, *args: str, expect: int = 0) -> dict[str, Any]:
        done = self.run(*args)
        assert "Traceback" not in done.stderr, done.stderr
        assert done.returncode == expect, (done.returncode, done.stdout, done.stderr)
        lines = done.stdout.splitlines()
        assert len(lines) == 1, done.stdout
        return json.loads(lines[0])


def _agent(skill: Path, sandbox: SandboxProcess, home: Path, **extra: str) -> Agent:
    env = make_cli_env(sandbox.url, home, **extra)
    env.pop("PYTHONPATH", None)
    return Agent(skill, env)


def _journal_row(home: Path, job_id: str) -> sqlite3.Row | None:
    db = sqlite3.connect(str(home / "gptimg-data" / "journal.sqlite3"))
    db.row_factory = sqlite3.Row
    try:
        return db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    finally:
        db.close()


def test_the_folder_is_complete_and_its_manifest_holds_every_hash(skill: Path) -> None:
    manifest = json.loads((skill / MANIFEST).read_text())
    files = {p.relative_to(skill).as_posix() for p in skill.rglob("*") if p.is_file()} - {MANIFEST}
    assert set(manifest["files"]) == files
    assert {"SKILL.md", "bin/uno.py", "references/styles.md", "references/exit-codes.md",
            "references/error-codes.md", "references/sandbox.md"} <= files
    assert not [name for name in files if name.endswith((".zip", ".pyc", ".pyz"))]
    assert verify_skill(skill) == []
    (skill / "bin" / "gptimg" / "styles.py").write_text("# changed\n")
    assert verify_skill(skill) == ["changed: bin/gptimg/styles.py"]


def test_skill_md_front_matter_and_size(skill: Path) -> None:
    text = (skill / "SKILL.md").read_text(encoding="utf-8")
    assert len(text.encode("utf-8")) < 6 * 1024
    front = text.split("---")[1]
    assert re.search(r"^name: gpt-image2$", front, re.M)
    assert "Use when" in front and "metadata:" in front
    for must in ("UNO_API_URL", "login --poll", "logs", "sys.executable", "outcome_unknown"):
        assert must in text, must


def test_device_login_submit_with_reference_result_and_logs_on_bare_python(
    skill: Path, start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "1", "--auto-approve")
    home = tmp_path / "home"
    agent = _agent(skill, sandbox, home)

    assert agent.json("whoami", expect=1)["code"] == "not_logged_in"
    pending = agent.json("login", "--start")
    assert pending["status"] == "pending" and pending["device_code"]
    stored = agent.json("login", "--poll", pending["device_code"])
    assert stored["success"] is True and (home / ".uno" / "credentials.json").is_file()
    me = agent.json("whoami")["data"]
    assert me["credits"] == 3000
    assert agent.json("health")["success"] is True
    assert agent.json("call", SUBMIT, "--args", '{"prompt": "x"}', "--dry-run")["dry_run"] is True

    reference = tmp_path / "ref.png"
    reference.write_bytes(render_image("ref", None, "1024x1024", 0))
    submitted = agent.json("call", SUBMIT, "--args", json.dumps(
        {"prompt": "a shiba inu", "style": "ghibli_anime", "reference_image_urls": str(reference)}))
    job_id = submitted["data"]["job_id"]
    row = _journal_row(home, job_id)
    assert row is not None and row["status"] == "submitted" and row["prompt"] == "a shiba inu"
    assert row["reference_urls"].startswith(sandbox.url + "/files/")  # uploaded, not the local path

    for _ in range(10):
        answer = agent.json("call", RESULT, "--timeout", "70", "--args", json.dumps({"job_id": job_id, "wait_seconds": 50}))
        if answer["data"]["status"] == "done":
            break
    assert answer["data"]["status"] == "done" and answer["data"]["items"]

    # The human CLI knows the agent's job: same journal (GPTIMG_HOME), same row.
    listed = subprocess.run([sys.executable, "-m", "gptimg", "--json", "jobs"], env=make_cli_env(sandbox.url, home),
                            capture_output=True, text=True, timeout=60)
    assert [job["job_id"] for job in json.loads(listed.stdout)["data"]] == [job_id]

    logs = agent.json("logs", "--last", "5")["data"]
    charged = [r for r in logs["records"] if r["tool"] == SUBMIT]
    assert charged and charged[0]["credits"] == 300 and logs["days"] == 7

    assert agent.json("logout")["success"] is True
    assert agent.json("whoami", expect=1)["code"] == "not_logged_in"


def test_a_tool_error_result_keeps_its_message_and_journals_not_charged(
    skill: Path, start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "1")
    home = tmp_path / "home"
    agent = _agent(skill, sandbox, home, UNO_API_KEY=sandbox.create_account("t", "t@example.invalid"))
    failed = agent.json("call", SUBMIT, "--args", '{"prompt": "draw [sandbox:tool-error]"}', expect=1)
    assert (failed["success"], failed["error"]) == (False, "tool_error")
    assert "refused this prompt" in failed["message"] and failed["meta"]["charged"] is False
    db = sqlite3.connect(str(home / "gptimg-data" / "journal.sqlite3"))
    assert db.execute("SELECT status FROM jobs").fetchall() == [("rejected",)]
    db.close()


def test_the_seed_reference_loop_runs_to_done_from_the_exported_folder(
    skill: Path, start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "1")
    home = tmp_path / "home"
    env = make_cli_env(sandbox.url, home, UNO_API_KEY=sandbox.create_account("s", "s@example.invalid"))
    loop = SEED_LOOP.replace('UNO = "bin/uno.py"', f"UNO = {str(skill / 'bin' / 'uno.py')!r}")
    done = subprocess.run([sys.executable, "-c", loop], env=env, capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"]["status"] == "done"


def test_the_skill_md_loop_ends_with_files_on_disk(
    skill: Path, start_sandbox: Callable[..., SandboxProcess], tmp_path: Path
) -> None:
    sandbox = start_sandbox("--delay", "1")
    home = tmp_path / "home"
    env = make_cli_env(sandbox.url, home, UNO_API_KEY=sandbox.create_account("l", "l@example.invalid"))
    text = (skill / "SKILL.md").read_text(encoding="utf-8")
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)  # type: ignore[union-attr]
    code = re.sub(r"^SKILL_DIR = .*$", f"SKILL_DIR = {str(skill)!r}", code, flags=re.M)
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300, cwd=out)
    assert done.returncode == 0, done.stderr
    files = list(out.glob("*.png"))
    assert len(files) == 1 and files[0].read_bytes().startswith(b"\x89PNG")


def test_a_missing_module_is_one_json_error_with_the_fix(skill: Path, tmp_path: Path) -> None:
    env = make_cli_env("http://127.0.0.1:9", tmp_path, UNO_API_KEY="uno_missing_module_test_key_0000")
    env.pop("PYTHONPATH", None)
    agent = Agent(skill, env)
    (skill / "bin" / "gptimg" / "unocli" / "call.py").unlink()
    done = agent.run("call", SUBMIT, "--args", '{"prompt": "x"}')
    assert done.returncode == 2 and "Traceback" not in done.stderr
    payload = json.loads(done.stdout)
    assert payload["error"] == "missing_dependencies" and "gptimg skill export" in payload["hint"]

    shutil.rmtree(skill / "bin" / "gptimg")
    done = agent.run("whoami")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert json.loads(done.stdout)["error"] == "missing_dependencies"

