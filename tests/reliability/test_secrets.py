"""The API key never leaves the credentials file: not on stdout, stderr, in the journal, in any file, in errors.

Every command of both CLIs runs with one known key, succeeding and failing (a
refused key, no credits, the network down, a gateway that echoes the key back);
then every byte gptimg produced is searched for it. The credentials file itself
is the one place it may be.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
import traceback
from pathlib import Path
from typing import Callable

import pytest

from gptimg import errors
from gptimg.credentials import CredentialStore
from gptimg.gateway import GatewayClient
from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL
from gptimg.sandbox import SandboxGateway

from .conftest import GPTIMG, UNO, Cli, Ran
from .scripted import Answer, ScriptedGateway

EMAIL = "secret@example.invalid"


def fragments(key: str) -> list[str]:
    """The key, and its middle: masking may show 8 leading and 4 trailing characters, never more."""
    return [key, key[8:-4]]


def assert_absent(key: str, where: str, text: str) -> None:
    for fragment in fragments(key):
        assert fragment not in text, f"the key leaked into {where}:\n{text[:2000]}"


def assert_no_file_holds(key: str, *roots: Path, allowed: tuple[Path, ...] = ()) -> int:
    checked = 0
    for root in roots:
        for path in root.rglob("*") if root.exists() else []:
            if path.is_file() and path not in allowed:
                data = path.read_bytes()
                for fragment in fragments(key):
                    assert fragment.encode() not in data, f"the key leaked into {path}"
                checked += 1
    return checked


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_no_command_of_either_cli_ever_shows_the_key(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    sandbox = make_sandbox(delay=0.1)
    key = sandbox.create_account("Secret", EMAIL)
    broke = sandbox.create_account("Broke", "broke@example.invalid", credits=0)
    user = cli(sandbox.base_url)
    out = user.home / "out"
    manifest = user.home / "jobs.jsonl"
    manifest.write_text('{"prompt": "a fox", "name": "fox"}\n')
    runs: list[tuple[tuple[str, ...], Ran]] = []

    def run(which: str, *args: str, env: dict[str, str] | None = None) -> Ran:
        ran = inproc(user, which, *args, env=env)
        runs.append(((which, *args), ran))
        return ran

    assert run("gptimg", "login", "--key", key, "--json").code == 0
    assert run("gptimg", "whoami", "--json").code == 0
    assert run("gptimg", "whoami").code == 0
    assert run("gptimg", "accounts", "--json").code == 0
    assert run("gptimg", "use", EMAIL, "--json").code == 0
    assert run("gptimg", "styles", "--json").code == 0
    done = run("gptimg", "generate", "a fox", "--yes", "--json", "--out", str(out))
    assert done.code == 0, done
    queued = run("gptimg", "generate", "a cat", "--no-wait", "--yes", "--json", "--out", str(out))
    job_id = queued.json()["data"]["job_id"]
    assert run("gptimg", "result", job_id, "--json").code == 0
    assert run("gptimg", "result", job_id).code == 0
    assert run("gptimg", "jobs", "--json").code == 0
    assert run("gptimg", "jobs").code == 0
    assert run("gptimg", "batch", str(manifest), "--yes", "--json", "--out", str(out)).code == 0
    assert run("uno", "login", "--key", key).code == 0
    assert run("uno", "whoami").code == 0
    assert run("uno", "use").code == 0
    assert run("uno", "use", EMAIL).code == 0
    assert run("uno", "search", "image").code == 0
    assert run("uno", "tool", "get", SUBMIT_TOOL).code == 0
    submitted = run("uno", "call", SUBMIT_TOOL, "--args", '{"prompt": "a fox"}')
    assert submitted.code == 0, submitted
    agent_job = submitted.json()["data"]["job_id"]
    assert run("uno", "call", RESULT_TOOL, "--args", json.dumps({"job_id": agent_job, "wait_seconds": 5})).code == 0
    assert run("uno", "health").code == 0
    # Failing variants: a refused key, no credits, the network down (key from the environment too).
    revoked = "uno_sbx_" + "f" * 32
    for env in ({"UNO_API_KEY": revoked}, {"UNO_API_KEY": broke}):
        assert run("gptimg", "whoami", "--json", env=env).code in (0, 3)
        assert run("gptimg", "generate", "a fox", "--yes", "--json", env=env).code in (3, 4)
        assert run("uno", "whoami", env=env).code in (0, 1)
        assert run("uno", "call", SUBMIT_TOOL, "--args", '{"prompt": "a fox"}', env=env).code == 1
    down = {"UNO_API_URL": f"http://127.0.0.1:{free_port()}"}
    # The stored key is a sandbox account's: it stays with its own gateway, so another one is "not logged in".
    assert run("gptimg", "generate", "a fox", "--yes", env=down).code == 3
    assert run("uno", "whoami", env=down).code == 1
    assert run("gptimg", "generate", "a fox", "--yes", env={**down, "UNO_API_KEY": key}).code == 1
    assert run("uno", "whoami", env={**down, "UNO_API_KEY": key}).code == 1
    assert run("gptimg", "logout", "--json").code == 0
    assert run("uno", "logout").code == 0

    for secret in (key, revoked, broke):
        for argv, ran in runs:
            shown = [a for a in argv if a not in (key, revoked, broke)]
            assert_absent(secret, f"stdout of {shown}", ran.out)
            assert_absent(secret, f"stderr of {shown}", ran.err)
        checked = assert_no_file_holds(secret, user.data_dir, out, user.home / ".uno",
                                       allowed=(user.credentials,))
    assert checked >= 3, "the journal and the saved images must have been searched"
    assert (user.data_dir / "journal.sqlite3").exists()


def test_a_gateway_that_echoes_the_key_back_never_gets_it_printed(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    key = "uno_echo_" + "0123456789abcdef" * 2

    def echo(status: int, code: str) -> Callable[..., Answer]:
        def answer(request: object) -> Answer:
            sent = getattr(request, "headers", {}).get("authorization", "")
            return Answer(status, {"error": code, "message": f"Invalid API key: {sent}", "detail": sent,
                                   "meta": {"key": sent, "you_sent": {"token": sent}}}, headers={"X-Echo": sent})
        return answer

    scripted = make_scripted({"GET /v1/auth/me": echo(401, "invalid_api_key"),
                              f"CALL {SUBMIT_TOOL}": echo(400, "invalid_arguments"),
                              f"CALL {RESULT_TOOL}": echo(500, "upstream crashed")})
    user = cli(scripted.base_url)
    user.login(key, email=EMAIL)
    runs = [
        inproc(user, "gptimg", "whoami", "--json"),
        inproc(user, "gptimg", "whoami"),
        inproc(user, "gptimg", "login", "--key", key, "--json"),
        inproc(user, "uno", "whoami"),
        inproc(user, "uno", "login", "--key", key),
        inproc(user, "uno", "call", SUBMIT_TOOL, "--args", '{"prompt": "a fox"}'),
        inproc(user, "uno", "call", RESULT_TOOL, "--args", '{"job_id": "abc"}'),
    ]
    assert all(ran.code != 0 for ran in runs)
    for ran in runs:
        assert_absent(key, "output", ran.out + ran.err)
    assert_no_file_holds(key, user.data_dir, user.home, allowed=(user.credentials,))

    # In-process: the exceptions themselves (message, repr, details, body, traceback) hold no key.
    with GatewayClient(scripted.base_url, key) as client:
        for call in (client.me, lambda: client.submit({"prompt": "a fox"}), lambda: client.poll_result("abc", 0)):
            try:
                call()
            except errors.GptimgError as exc:
                text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                text += str(exc) + repr(exc) + json.dumps(exc.to_dict(), default=str)
                text += repr(getattr(exc, "body", None)) + repr(exc.details)
                assert_absent(key, f"{type(exc).__name__}", text)
            else:
                raise AssertionError("the scripted gateway answered an error; the call must fail")
        assert key not in repr(client)


def test_transport_errors_carry_no_key() -> None:
    key = "uno_transport_" + "9" * 32
    with GatewayClient(f"http://127.0.0.1:{free_port()}", key) as client:
        try:
            client.me()
        except errors.GptimgError as exc:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)) + repr(exc.to_dict())
            assert_absent(key, "a connection error", text)
            assert exc.exit_code == 1
        else:
            raise AssertionError("nothing listens on that port")


@pytest.mark.e2e
def test_a_key_echoed_in_a_status_a_job_error_or_an_item_url_is_never_shown_or_stored(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    key = "uno_echoes_" + "abcdef0123456789" * 2
    answers: dict[str, list[int]] = {"done": [], "failed": []}

    def result(request: object) -> Answer:
        job_id = getattr(request, "arguments", {}).get("job_id")
        sent = getattr(request, "headers", {}).get("authorization", "").removeprefix("Bearer ")
        kind = "failed" if job_id == "job_fails_00" else "done"
        answers[kind].append(1)
        if len(answers[kind]) == 1:
            return Answer(body={"data": {"status": f"running as {sent}", "job_id": job_id}})
        if kind == "failed":
            return Answer(body={"data": {"status": "error", "job_id": job_id, "error": f"bad key {sent}"}})
        url = f"{scripted.base_url}/cdn/{job_id}/0.png?token={sent}"
        return Answer(body={"data": {"status": "done", "job_id": job_id, "items": [{"url": url, "note": sent}]}})

    scripted = make_scripted({f"CALL {RESULT_TOOL}": result})
    user = cli(scripted.base_url)
    user.login(key, email=EMAIL)
    out = user.home / "out"
    runs = [user.gptimg("generate", "a fox", "--yes", "--out", str(out)),
            user.gptimg("result", "job_fails_00", "--out", str(out)),
            user.gptimg("jobs", "--json"), user.gptimg("jobs"), user.gptimg("result", scripted.job_id, "--json")]
    assert runs[0].code == 0 and runs[1].code != 0, runs
    assert "running as" in runs[0].err and "bad key" in runs[1].err
    assert len(runs[2].json()["data"]) >= 2
    for ran in runs:
        assert_absent(key, "output", ran.out + ran.err)
    assert assert_no_file_holds(key, user.data_dir, out, allowed=(user.credentials,)) >= 2


@pytest.mark.e2e
def test_neither_cli_can_dump_core_with_the_key_in_memory(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    resource = pytest.importorskip("resource")
    if resource.getrlimit(resource.RLIMIT_CORE)[1] == 0 or not Path("/proc/self/limits").exists():
        pytest.skip("core dumps are already impossible here, or /proc cannot show the limit")
    waiting = {"data": {"status": "running", "job_id": "job123456", "padding": "x" * 120}}
    scripted = make_scripted({f"CALL {RESULT_TOOL}": Answer(body=waiting, drip=0.5)})
    user = cli(scripted.base_url)
    user.login("uno_core_" + "c" * 32)

    def allow_core_dumps() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))

    commands = [[*GPTIMG, "result", "job123456", "--out", str(user.home / "out")],
                [*UNO, "call", RESULT_TOOL, "--args", '{"job_id": "job123456"}']]
    for number, argv in enumerate(commands, start=1):
        process = subprocess.Popen(argv, env=user.env, cwd=user.home, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=allow_core_dumps)
        try:
            deadline = time.monotonic() + 30
            while len(scripted.seen(f"CALL {RESULT_TOOL}")) < number and time.monotonic() < deadline:
                time.sleep(0.05)  # waiting for the request to arrive: the process is then mid-call
            limits = Path(f"/proc/{process.pid}/limits").read_text()
        finally:
            process.kill()
            process.wait()
        [line] = [row for row in limits.splitlines() if row.startswith("Max core file size")]
        assert line.split()[4] == "0", f"{argv[2:4]}: {line}"


@pytest.mark.e2e
@pytest.mark.parametrize("which", ["gptimg", "uno"])
def test_login_key_dash_reads_the_key_from_stdin_so_it_is_never_an_argument(
    which: str, make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli]
) -> None:
    """``login --key -`` (issue #10): the key never appears in ``ps``; both CLIs store it, neither prints it."""
    gateway = make_sandbox()
    key = gateway.create_account(email=EMAIL)
    user = cli(gateway.base_url)
    run = user.gptimg if which == "gptimg" else user.uno
    json_flag = "--json" if which == "gptimg" else "--compact"

    ran = run("login", "--key", "-", json_flag, stdin=f"  {key}\n")

    assert ran.code == 0, ran
    stored = ran.json()
    stored = stored["data"] if which == "gptimg" else stored
    assert stored["email"] == EMAIL and stored["credential_file_mode"] == "0600"
    assert CredentialStore(user.credentials).active_key().api_key == key
    assert_absent(key, "stdout", ran.out)
    assert_absent(key, "stderr", ran.err)

    empty = run("login", "--key", "-", json_flag, stdin="")
    assert empty.code == (errors.EXIT_BAD_INPUT if which == "gptimg" else 1), empty
    assert "stdin" in empty.json().get("message", "") + empty.json()["error"], empty
    assert "Traceback" not in empty.err


@pytest.mark.e2e
def test_a_key_spelled_with_escapes_inside_an_mcp_text_answer_is_never_shown_or_stored(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli]
) -> None:
    """An MCP-shaped answer carries its JSON as text; escapes in that inner JSON (\\u0075no_...) spell the
    key only once the client parses the text, after the outer answer was scrubbed."""
    key = "uno_mcptext_" + "fedcba9876543210" * 2
    polls: list[int] = []

    def result(request: object) -> Answer:
        job_id = getattr(request, "arguments", {}).get("job_id")
        sent = getattr(request, "headers", {}).get("authorization", "").removeprefix("Bearer ")
        escaped = "".join(f"\\u{ord(c):04x}" for c in sent)  # the inner JSON's own escapes
        polls.append(1)
        if len(polls) == 1:
            inner = '{"status": "running as ' + escaped + '", "job_id": "' + str(job_id) + '"}'
        else:
            url = f"{scripted.base_url}/cdn/{job_id}/0.png"
            inner = ('{"status": "done", "job_id": "' + str(job_id) + '", "note": "' + escaped + '", "items": [{"url": "'
                     + url + '"}]}')
        return Answer(body={"data": {"content": [{"type": "text", "text": inner}]}})

    scripted = make_scripted({f"CALL {RESULT_TOOL}": result})
    user = cli(scripted.base_url)
    user.login(key, email=EMAIL)
    out = user.home / "out"
    runs = [user.gptimg("generate", "a fox", "--yes", "--out", str(out)),
            user.gptimg("result", scripted.job_id, "--json", "--out", str(out)), user.gptimg("jobs", "--json")]
    assert runs[0].code == 0, runs[0]
    assert "running as" in runs[0].err  # the status line was shown, masked
    for ran in runs:
        assert_absent(key, "output", ran.out + ran.err)
    assert_no_file_holds(key, user.data_dir, out, allowed=(user.credentials,))
