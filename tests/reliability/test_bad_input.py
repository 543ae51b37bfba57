"""Every kind of bad input: a clear error with a hint, its documented exit code, no traceback, nothing spent.

Local mistakes must not even reach the gateway (the sandbox counts every request
it gets); a gateway that answers nonsense must give a clean error, not a crash.
The wide matrices run in-process (a traceback there is an exception escaping
``main``, which fails the test); a few run as real processes to check stderr.
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

import pytest

from gptimg.image_tool import MAX_PROMPT_CHARS, RESULT_TOOL, SUBMIT_TOOL
from gptimg.sandbox import SandboxGateway

from .conftest import Cli, Ran
from .scripted import PNG, Answer, ScriptedGateway

EMAIL = "tester@example.invalid"


@pytest.fixture
def gateway(make_sandbox: Callable[..., SandboxGateway]) -> SandboxGateway:
    return make_sandbox()


@pytest.fixture
def user(gateway: SandboxGateway, cli: Callable[..., Cli]) -> Cli:
    user = cli(gateway.base_url)
    user.login(gateway.create_account(email=EMAIL))
    (user.home / "notes.png").write_text("plain text wearing an image's name")
    big = user.home / "big.png"
    big.write_bytes(PNG + b"\x00" * (8 * 1024 * 1024))
    return user


def untouched(gateway: SandboxGateway) -> dict[str, Any]:
    stats = gateway.stats()
    return {"requests": stats["requests"], "submits": stats["submits"],
            "credits": next(a["credits"] for a in stats["accounts"] if a["email"] == EMAIL)}


def assert_refused(ran: Ran, exit_code: int, needle: str = "") -> dict[str, Any]:
    """The documented exit code, one envelope with ``error`` and ``hint``, and no traceback."""
    assert ran.code == exit_code, ran
    assert "Traceback" not in ran.err
    envelope = ran.json()
    assert envelope["success"] is False and envelope.get("error") and envelope.get("hint"), envelope
    if needle:
        assert needle in json.dumps(envelope, ensure_ascii=False), envelope
    return envelope


GENERATE_CASES = [
    pytest.param([""], "prompt is empty", id="empty-prompt"),
    pytest.param(["   "], "prompt is empty", id="blank-prompt"),
    pytest.param(["x" * (MAX_PROMPT_CHARS + 1)], str(MAX_PROMPT_CHARS), id="prompt-over-limit"),
    pytest.param(["a\x00b"], "NUL", id="nul-in-prompt"),
    pytest.param(["a fox", "-n", "0"], "n must be", id="n-0"),
    pytest.param(["a fox", "-n", "5"], "gptimg batch", id="n-5"),
    pytest.param(["a fox", "-n", "x"], "x", id="n-x"),
    pytest.param(["a fox", "--size", "999x999"], "Unknown size", id="unknown-size"),
    pytest.param(["a fox", "--style", "ghibli"], "ghibli_anime", id="unknown-style-suggests"),
    pytest.param(["a fox", "--ref", "missing.png"], "not found", id="missing-ref"),
    pytest.param(["a fox", "--ref", "notes.png"], "not a PNG", id="ref-not-an-image"),
    pytest.param(["a fox", "--ref", "big.png"], "8 MiB", id="ref-over-8-mib"),
    pytest.param(["a fox", "--ref", "ftp://example.invalid/a.png"], "http(s)", id="ref-url-not-http"),
    pytest.param(["a fox", "--base-url", "not a url"], "Not a usable gateway URL", id="base-url-not-a-url"),
    pytest.param(["a fox", "--base-url", "http://192.0.2.1:9"], "plain http", id="base-url-plain-http-remote"),
    pytest.param(["a fox", "--timeout", "-1"], "--timeout", id="negative-timeout"),
]


@pytest.mark.parametrize(("args", "needle"), GENERATE_CASES)
def test_generate_refuses_bad_input_before_any_request(
    args: list[str], needle: str, gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    before = untouched(gateway)
    ran = inproc(user, "gptimg", "generate", *args, "--yes", "--json")
    assert_refused(ran, 2, needle)
    assert untouched(gateway) == before, "bad input must not reach the gateway"
    assert user.journal_rows() == []


def test_an_unwritable_out_exits_1_before_any_request_as_it_does_after_the_submit(
    gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    """``output_not_writable`` has one exit code (1) whether it is found before the submit or when saving."""
    (user.home / "a-file").write_text("not a folder")
    before = untouched(gateway)
    ran = inproc(user, "gptimg", "generate", "a fox", "--out", str(user.home / "a-file"), "--yes", "--json")
    envelope = assert_refused(ran, 1, "not a folder")
    assert envelope["error"] == "output_not_writable"
    assert untouched(gateway) == before and user.journal_rows() == []


UNO_SUBMIT_CASES = [
    pytest.param("not json", "Invalid JSON", id="args-not-json"),
    pytest.param("[1, 2]", "JSON object", id="args-not-an-object"),
    pytest.param('"a fox"', "JSON object", id="args-a-string"),
    pytest.param('{"prompt": "a\\u0000b"}', "NUL", id="args-nul-in-prompt"),
    pytest.param('{"prompt": ""}', "prompt is empty", id="empty-prompt"),
    pytest.param('{"prompt": "a fox", "n": 0}', "n must be", id="n-0"),
    pytest.param('{"prompt": "a fox", "n": 5}', "n must be", id="n-5"),
    pytest.param('{"prompt": "a fox", "n": "x"}', "n must be", id="n-x"),
    pytest.param('{"prompt": "a fox", "size": "999x999"}', "Unknown size", id="unknown-size"),
    pytest.param('{"prompt": "a fox", "style": "ghibli"}', "ghibli_anime", id="unknown-style-suggests"),
    pytest.param('{"prompt": "a fox", "reference_image_urls": "./missing.png"}', "not found", id="missing-ref"),
    pytest.param('{"prompt": "a fox", "reference_image_urls": "./notes.png"}', "not a PNG", id="ref-not-an-image"),
    pytest.param('{"prompt": "a fox", "reference_image_urls": "./big.png"}', "8 MiB", id="ref-over-8-mib"),
    pytest.param('{"prompt": "a fox", "reference_image_urls": "ftp://example.invalid/a.png"}', "http(s)",
                 id="ref-url-not-http"),
]


@pytest.mark.parametrize(("raw", "needle"), UNO_SUBMIT_CASES)
def test_agent_call_refuses_bad_arguments_before_any_request(
    raw: str, needle: str, gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    before = untouched(gateway)
    ran = inproc(user, "uno", "call", SUBMIT_TOOL, "--args", raw, "--compact")
    assert_refused(ran, 1, needle)
    assert untouched(gateway) == before


def test_agent_call_refuses_a_tool_outside_its_scope(gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]) -> None:
    before = untouched(gateway)
    ran = inproc(user, "uno", "call", "someone.elses_tool", "--args", "{}")
    assert_refused(ran, 1, "tool_not_allowed")
    assert untouched(gateway) == before


@pytest.mark.parametrize(
    ("lines", "needle"),
    [
        pytest.param(['{"prompt": "a fox"}', "this is not json"], "line 2", id="not-json"),
        pytest.param(['{"prompt": "a fox"}', '{"prompt": "a cat", "n": 9}'], "line 2", id="n-out-of-range"),
        pytest.param(['{"prompt": ""}'], "line 1", id="empty-prompt"),
        pytest.param(['{"prompt": "a fox", "style": "ghibli"}'], "ghibli_anime", id="unknown-style"),
        pytest.param(['{"prompt": "a fox", "refs": "missing.png"}'], "not found", id="missing-ref"),
    ],
)
def test_batch_refuses_a_manifest_with_a_bad_line_before_any_spend(
    lines: list[str], needle: str, gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    manifest = user.home / "jobs.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    before = untouched(gateway)
    ran = inproc(user, "gptimg", "batch", str(manifest), "--yes", "--json")
    assert_refused(ran, 2, needle)
    assert untouched(gateway)["submits"] == before["submits"]
    assert untouched(gateway)["credits"] == before["credits"]


@pytest.mark.e2e
def test_real_processes_print_one_line_errors_with_hints_and_no_traceback(gateway: SandboxGateway, user: Cli) -> None:
    before = untouched(gateway)
    human = user.gptimg("generate", "a fox", "-n", "5", "--yes")
    assert human.code == 2 and human.out == ""
    assert "Traceback" not in human.err
    lines = human.err.strip().splitlines()
    assert lines[0].startswith("error:") and any(line.startswith("hint:") for line in lines), human

    agent = user.uno("call", SUBMIT_TOOL, "--args", "{not json", "--compact")
    assert agent.code == 1 and "Traceback" not in agent.err
    assert len(agent.out.splitlines()) == 1 and json.loads(agent.out)["hint"]
    assert untouched(gateway) == before


# --- the credentials file -----------------------------------------------------------------------


def test_a_corrupted_credentials_file_is_reported_left_in_place_then_backed_up(
    gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    damaged = b'[{"api_key": "uno_half'
    user.credentials.write_bytes(damaged)
    before = untouched(gateway)

    ran = inproc(user, "gptimg", "generate", "a fox", "--yes", "--json")
    envelope = assert_refused(ran, 2, str(user.credentials))
    assert envelope["error"] == "credentials_corrupt"
    assert user.credentials.read_bytes() == damaged, "a damaged file is never overwritten by a read"
    assert untouched(gateway) == before
    agent = inproc(user, "uno", "whoami", "--compact")
    assert agent.code == 1 and "hint" in agent.json()
    assert user.credentials.read_bytes() == damaged

    login = inproc(user, "gptimg", "login", "--key", gateway.create_account(email="new@example.invalid"), "--json")
    assert login.code == 0, login
    [backup] = list(user.credentials.parent.glob("credentials.json.damaged-*"))
    assert backup.read_bytes() == damaged and str(backup.name) in login.err
    assert [a["email"] for a in json.loads(user.credentials.read_text())] == ["new@example.invalid"]


def test_loose_credentials_permissions_are_fixed_with_a_warning(
    gateway: SandboxGateway, user: Cli, inproc: Callable[..., Ran]
) -> None:
    os.chmod(user.credentials, 0o644)
    ran = inproc(user, "gptimg", "whoami", "--json")
    assert ran.code == 0, ran
    assert "warning:" in ran.err and "0600" in ran.err
    assert user.credentials.stat().st_mode & 0o777 == 0o600


# --- a gateway that does not talk like one ------------------------------------------------------

HTML = Answer(200, "<!doctype html><html><body>Welcome to nginx!</body></html>", content_type="text/html")
HUGE = Answer(200, b'{"pad": "' + b"x" * (9 * 1024 * 1024) + b'"}', content_type="application/json")


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(HTML, id="html"),
        pytest.param(Answer(200, [1, 2, 3]), id="a-list"),
        pytest.param(Answer(200, "null", content_type="application/json"), id="null"),
        pytest.param(HUGE, id="huge-body"),
    ],
)
def test_an_account_answer_that_is_not_an_object_is_a_clean_error(
    answer: Answer, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    scripted = make_scripted({"GET /v1/auth/me": answer})
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")

    for which, args, code in [("gptimg", ("whoami", "--json"), 1), ("uno", ("whoami", "--compact"), 1),
                              ("gptimg", ("generate", "a fox", "--yes", "--json"), 1)]:
        ran = inproc(user, which, *args)
        assert ran.code == code, ran
        envelope = ran.json()
        assert envelope["success"] is False and envelope.get("hint"), envelope
    assert scripted.seen(f"CALL {SUBMIT_TOOL}") == [], "nothing is paid for on a gateway that makes no sense"


@pytest.mark.parametrize(
    ("submit", "exit_code", "error"),
    [
        pytest.param(Answer(200, {"data": "x"}), 7, "outcome_unknown", id="data-a-string"),
        pytest.param(Answer(200, {"data": {"status": "pending"}}), 7, "outcome_unknown", id="no-job-id"),
        pytest.param(Answer(200, {"data": {"job_id": 42}}), 7, "outcome_unknown", id="job-id-a-number"),
        # Answered 200 but unreadable: the gateway may have charged, and only an error envelope says it did not.
        pytest.param(HTML, 7, "outcome_unknown", id="html"),
        pytest.param(HUGE, 7, "outcome_unknown", id="huge-body"),
        pytest.param(Answer(200, '{"data": {"job_id": "0b84', content_type="application/json"), 7, "outcome_unknown",
                     id="cut-off-json"),
        pytest.param(Answer(200, b""), 7, "outcome_unknown", id="empty"),
    ],
)
def test_a_submit_answer_of_the_wrong_shape_is_never_taken_for_a_job(
    submit: Answer, exit_code: int, error: str,
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran],
) -> None:
    scripted = make_scripted({f"CALL {SUBMIT_TOOL}": submit})
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")
    ran = inproc(user, "gptimg", "generate", "a fox", "--yes", "--json", "--out", str(user.home / "out"))
    envelope = assert_refused(ran, exit_code)
    assert envelope["error"] == error
    assert len(scripted.seen(f"CALL {SUBMIT_TOOL}")) == 1 and scripted.seen(f"CALL {RESULT_TOOL}") == []
    [row] = user.journal_rows()
    assert row["status"] in ("unknown", "rejected") and row["job_id"] is None
    if exit_code == 7:
        assert row["status"] == "unknown" and "gptimg jobs" in envelope["hint"]


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(Answer(200, {"data": "x"}), id="data-a-string"),
        pytest.param(Answer(200, {"data": {"status": 5}}), id="status-a-number"),
        pytest.param(Answer(200, {"data": {"status": "done", "items": "http://x"}}), id="items-a-string"),
        pytest.param(Answer(200, {"data": {"status": "done", "items": [{"url": 7}]}}), id="url-a-number"),
        pytest.param(HTML, id="html"),
        pytest.param(HUGE, id="huge-body"),
    ],
)
def test_a_result_answer_of_the_wrong_shape_names_the_job_and_how_to_fetch_it(
    result: Answer, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
    inproc: Callable[..., Ran],
) -> None:
    scripted = make_scripted({f"CALL {RESULT_TOOL}": result})
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")
    ran = inproc(user, "gptimg", "generate", "a fox", "--yes", "--json", "--out", str(user.home / "out"))
    envelope = assert_refused(ran, 1)
    assert envelope["job_id"] == scripted.job_id
    assert f"gptimg result {scripted.job_id}" in envelope["hint"]
    assert len(scripted.seen(f"CALL {SUBMIT_TOOL}")) == 1
    assert not (user.home / "out").exists() or list((user.home / "out").iterdir()) == []


def test_an_agent_call_with_a_huge_or_html_answer_is_one_clean_json_error(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    scripted = make_scripted({f"CALL {RESULT_TOOL}": HUGE, "GET /health": HTML})
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")
    for args in (("call", RESULT_TOOL, "--args", '{"job_id": "abc"}'), ("health",)):
        ran = inproc(user, "uno", *args, "--compact")
        assert ran.code == 1, ran
        envelope = ran.json()
        assert envelope["success"] is False and envelope.get("hint"), envelope



@pytest.mark.parametrize(
    "submit",
    [
        pytest.param(Answer(200, b""), id="empty"),
        pytest.param(Answer(200, {}), id="empty-object"),
        pytest.param(HTML, id="html"),
        pytest.param(HUGE, id="huge-body"),
        pytest.param(Answer(200, {"data": {"status": "pending"}}), id="no-job-id"),
        pytest.param(Answer(200, {"data": {"job_id": "a\x1b[2Jb"}}), id="control-characters"),
    ],
)
def test_the_agent_cli_never_prints_an_unreadable_submit_answer_as_success(
    submit: Answer, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    """bin/uno.py: outcome_unknown on stdout, the journal row ``unknown`` (written before the request)."""
    scripted = make_scripted({f"CALL {SUBMIT_TOOL}": submit})
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")
    ran = inproc(user, "uno", "call", SUBMIT_TOOL, "--args", '{"prompt": "a fox"}', "--compact")
    assert ran.code == 1 and "Traceback" not in ran.err, ran
    envelope = ran.json()
    assert (envelope["success"], envelope["error"]) == (False, "outcome_unknown"), envelope
    assert "logs" in envelope["hint"] and "gptimg jobs" not in envelope["hint"]
    [row] = user.journal_rows()
    assert (row["status"], row["job_id"], row["prompt"]) == ("unknown", None, "a fox")


def test_the_agent_cli_sends_no_submit_it_cannot_journal(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    scripted = make_scripted()
    user = cli(scripted.base_url)
    user.login("uno_scripted_key_0123456789")
    blocked = user.home / "not-a-folder"
    blocked.write_text("a file where the journal's folder should be")
    ran = inproc(user, "uno", "call", SUBMIT_TOOL, "--args", '{"prompt": "a fox"}', "--compact",
                 env={"GPTIMG_HOME": str(blocked)})
    assert ran.code == 1 and "Traceback" not in ran.err, ran
    envelope = ran.json()
    assert envelope["code"] == "journal_unavailable" and "GPTIMG_HOME" in envelope["hint"]
    assert scripted.seen(f"CALL {SUBMIT_TOOL}") == [], "no row, no submit"
