"""Nothing from outside can drive the terminal; ``--json`` stays valid JSON holding the same data.

A hostile gateway puts escape sequences in every string it controls: statuses,
error messages, account names and emails, device codes, item URLs. The real CLIs
run as processes against it, and no ESC, C1 or bidi control may reach their
human output, while ``--json`` output parses back to the very same strings.
"""

from __future__ import annotations

import json
import re
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL

from .conftest import Cli, Ran
from .scripted import Answer, Request, ScriptedGateway

#: Every test here runs the real CLIs as processes.
pytestmark = pytest.mark.e2e

KEY = "uno_terminal_" + "7" * 32
#: OSC 52 (writes the clipboard), CSI clear screen, OSC 8 hidden link, C1 CSI, a bidi override.
HOSTILE = "\x1b]52;c;ZWNobyBwd25lZA==\x07\x1b[2J\x1b]8;;https://evil.invalid\x1b\\x\x1b]8;;\x1b\\\x9b31m\u202egnp.exe"
RAW_CONTROL = re.compile("[\x1b\x9b\x9d\u202e]")


def assert_neutral(ran: Ran) -> None:
    found = RAW_CONTROL.findall(ran.out + ran.err)
    assert not found, f"raw control characters reached the terminal ({found}):\n{ran!r}"


def strings(value: object) -> list[str]:
    """Every string inside a parsed JSON document."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for item in value for s in strings(item)]
    return []


def carries_hostile(document: object) -> bool:
    return any(HOSTILE in text for text in strings(document))


def hostile_gateway(make_scripted: Callable[..., ScriptedGateway], *, status: str = "running") -> ScriptedGateway:
    polls: list[int] = []

    def result(request: Request) -> Answer:
        polls.append(1)
        if len(polls) == 1:
            return Answer(body={"data": {"status": f"{status} {HOSTILE}", "job_id": gateway.job_id}})
        return Answer(body={"data": {"status": "error", "job_id": gateway.job_id, "error": f"model said {HOSTILE}"}})

    gateway = make_scripted({
        "GET /v1/auth/me": Answer(body={"id": "usr_x", "name": f"Eve {HOSTILE}", "email": f"eve{HOSTILE}@x.invalid",
                                        "credits": 3000}),
        f"CALL {RESULT_TOOL}": result,
    })
    return gateway


def test_escape_sequences_in_statuses_and_job_errors_reach_the_terminal_neutralised(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = hostile_gateway(make_scripted)
    user = cli(gateway.base_url)
    user.login(KEY)
    ran = user.gptimg("generate", "a fox", "--yes", "--out", str(user.home / "out"))
    assert ran.code != 0, ran
    assert "model said" in ran.err and "\\x1b]52" in ran.err, ran  # shown, as visible escapes
    assert_neutral(ran)
    listing = user.gptimg("jobs")
    assert listing.code == 0, listing
    assert_neutral(listing)


def test_json_output_keeps_hostile_strings_as_valid_escaped_json(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = hostile_gateway(make_scripted)
    user = cli(gateway.base_url)
    user.login(KEY)
    ran = user.gptimg("generate", "a fox", "--yes", "--json", "--out", str(user.home / "out"))
    assert ran.code != 0
    assert_neutral(Ran(ran.code, ran.out, ""))  # stdout: even C1 and bidi are \u escapes
    assert carries_hostile(ran.json())
    whoami = user.gptimg("whoami", "--json")
    assert whoami.code == 0, whoami
    assert_neutral(Ran(whoami.code, whoami.out, ""))
    assert carries_hostile(whoami.json())
    agent = user.uno("whoami")
    assert agent.code == 0, agent
    assert_neutral(agent)
    assert carries_hostile(agent.json())


def test_account_names_and_emails_reach_the_terminal_neutralised(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = hostile_gateway(make_scripted)
    user = cli(gateway.base_url)
    ran = user.gptimg("login", "--key", KEY)
    assert ran.code == 0, ran
    assert "Eve" in ran.out + ran.err
    assert_neutral(ran)
    for args in (("whoami",), ("accounts",)):
        shown = user.gptimg(*args)
        assert shown.code == 0, shown
        assert "Eve" in shown.out + shown.err
        assert_neutral(shown)


def test_device_codes_and_links_from_the_server_reach_the_terminal_neutralised(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = make_scripted({
        "POST /oauth/device/code": Answer(body={
            "device_code": f"dev{HOSTILE}", "user_code": f"CODE-{HOSTILE}",
            "verification_uri": f"https://gw.invalid/device{HOSTILE}", "expires_in": 600, "interval": 1}),
        "POST /oauth/token": Answer(400, {"error": "access_denied"}),
    })
    user = cli(gateway.base_url)
    for ran in (user.gptimg("login"), user.gptimg("login", "--start"), user.uno("login")):
        assert "CODE-" in ran.err + ran.out, ran
        assert_neutral(ran)
    started = user.uno("login", "--start")
    assert started.json()["user_code"] == f"CODE-{HOSTILE}"  # the agent still gets the data, escaped in JSON
    assert_neutral(Ran(0, started.out, ""))


def test_manifest_prompts_reach_the_terminal_neutralised(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = make_scripted()
    user = cli(gateway.base_url)
    user.login(KEY)
    manifest = user.home / "jobs.jsonl"
    manifest.write_text(json.dumps({"prompt": f"a fox {HOSTILE}"}) + "\n" + json.dumps({"prompt": HOSTILE}) + "\n")
    runs = [user.gptimg("batch", str(manifest), "--yes", "--out", str(user.home / "out")), user.gptimg("jobs")]
    for ran in runs:
        assert "Traceback" not in ran.err, ran
        assert_neutral(ran)
    assert "fox" in runs[1].out + runs[1].err
