"""No traceback, anywhere: hostile answers, broken URLs and malformed keys end as one clear error.

Both CLIs run as real processes; a traceback, or a "check your network" for a key
that could never have worked, fails the test.
"""

from __future__ import annotations

import json
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL

from .conftest import Cli, Ran
from .scripted import Answer, Request, ScriptedGateway

#: Every test here runs the real CLIs as processes.
pytestmark = pytest.mark.e2e

KEY = "uno_notrace_" + "4" * 32
DEEP = "[" * 100_000 + "]" * 100_000


def assert_clean_failure(ran: Ran) -> None:
    assert ran.code != 0, ran
    assert "Traceback" not in ran.out + ran.err and "Unexpected error" not in ran.out + ran.err, ran


@pytest.mark.parametrize("levels", [100_000, 900])
def test_a_json_answer_nested_100000_levels_deep_is_an_error_not_a_crash(
    levels: int, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    # 900 levels parse, then would exhaust the stack of whatever walks them next (scrubbing, printing).
    deep = Answer(body={"data": json.loads("[" * levels + "]" * levels)} if levels < 1000 else DEEP,
                  content_type="application/json")
    gateway = make_scripted({"GET /v1/auth/me": deep, f"CALL {RESULT_TOOL}": deep})
    user = cli(gateway.base_url)
    user.login(KEY)
    for ran in (user.gptimg("whoami"), user.gptimg("whoami", "--json"), user.uno("whoami"),
                user.gptimg("result", "job123456", "--out", str(user.home / "out")),
                user.uno("call", RESULT_TOOL, "--args", '{"job_id": "job123456"}')):
        assert_clean_failure(ran)
        assert "not JSON" in ran.out + ran.err, ran


@pytest.mark.parametrize("url", [
    pytest.param("http://127.0.0.1:99999/cdn/x.png", id="port-out-of-range"),
    pytest.param("http://127.0.0.1:port/cdn/x.png", id="port-not-a-number"),
    pytest.param("http://127.0.0.1/cdn/x\n.png", id="newline"),
    pytest.param("http://127.0.0.1/cdn/\x1b[2Jx.png", id="escape"),
])
def test_an_item_url_that_cannot_be_fetched_is_an_error_not_a_crash(
    url: str, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    def done(request: Request) -> Answer:
        return Answer(body={"data": {"status": "done", "job_id": "job123456", "items": [{"url": url}]}})

    gateway = make_scripted({f"CALL {RESULT_TOOL}": done})
    user = cli(gateway.base_url)
    user.login(KEY)
    ran = user.gptimg("result", "job123456", "--out", str(user.home / "out"))
    assert_clean_failure(ran)
    assert "job123456" in ran.err


@pytest.mark.parametrize("base_url", [
    pytest.param("http://127.0.0.1:8080/x\ny", id="newline-inside"),
    pytest.param("http://127.0.0.1:99999", id="port-out-of-range"),
    pytest.param("http://127.0.0.1:http", id="port-not-a-number"),
])
def test_a_gateway_url_with_a_newline_or_a_bad_port_is_refused_as_bad_input(base_url: str, cli: Callable[..., Cli]) -> None:
    user = cli(base_url)
    user.login(KEY)
    for ran in (user.gptimg("whoami"), user.gptimg("whoami", "--json"), user.uno("whoami")):
        assert_clean_failure(ran)
        assert "gateway URL" in ran.out + ran.err, ran


@pytest.mark.parametrize("bad_key", [
    pytest.param("uno_ключ_" + "k" * 30, id="non-ascii"),
    pytest.param("uno_" + "k" * 16 + "\n" + "k" * 16, id="newline"),
    pytest.param("uno_" + "k" * 16 + " " + "k" * 16, id="space"),
])
def test_a_malformed_key_is_refused_at_once_without_a_request(
    bad_key: str, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    gateway = make_scripted()
    user = cli(gateway.base_url)
    runs = [user.gptimg("whoami", env={"UNO_API_KEY": bad_key}), user.uno("whoami", env={"UNO_API_KEY": bad_key}),
            user.gptimg("login", "--key", bad_key), user.uno("login", "--key", bad_key),
            user.gptimg("generate", "a fox", "--yes", "--json", env={"UNO_API_KEY": bad_key})]
    for ran in runs:
        assert_clean_failure(ran)
        assert "malformed" in ran.out + ran.err, ran
        assert "network" not in ran.out + ran.err, ran
    assert [r.key for r in gateway.requests if "authorization" in r.headers] == []
    assert not user.credentials.exists() or bad_key not in user.credentials.read_text()


def test_an_account_whose_name_is_a_list_is_shown_not_crashed_on(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    odd = {"id": "usr_odd", "name": ["Ann", "Lee"], "email": {"work": "a@x.invalid"}, "credits": 900}
    gateway = make_scripted({"GET /v1/auth/me": Answer(body=odd)})
    user = cli(gateway.base_url)
    assert user.gptimg("login", "--key", KEY).code == 0
    user.credentials.write_text(json.dumps([
        {"api_key": KEY, "name": ["Ann", "Lee"], "email": {"work": "a@x.invalid"}, "active": True},
        {"api_key": KEY + "2", "name": 7, "email": None},
    ]))
    for args in (("whoami",), ("whoami", "--json"), ("accounts",), ("accounts", "--json"), ("use", "7"),
                 ("logout",)):
        ran = user.gptimg(*args)
        assert "Traceback" not in ran.out + ran.err and "Unexpected error" not in ran.out + ran.err, (args, ran)
    for args in (("whoami",), ("use",), ("use", "7"), ("logout",)):
        ran = user.uno(*args)
        assert "Traceback" not in ran.out + ran.err and "internal" not in ran.out, (args, ran)
