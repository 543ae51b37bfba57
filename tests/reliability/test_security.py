"""Where the key may go, where files may land, who may read the credentials, and the sandbox's own manners."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Callable

import pytest

from gptimg.image_tool import SUBMIT_TOOL
from gptimg.sandbox import SandboxGateway

from .conftest import UNO, Cli, Ran, assert_only_complete_pngs, saved_files
from .scripted import PNG, Answer, Request, ScriptedGateway

KEY = "uno_security_" + "5" * 32


def test_the_image_cdn_never_receives_the_authorization_header(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    sandbox = make_sandbox(delay=0.1, separate_cdn=True)
    user = cli(sandbox.base_url)
    user.login(sandbox.create_account(email="cdn@example.invalid"))
    ran = inproc(user, "gptimg", "generate", "a fox", "-n", "2", "--yes", "--json", "--out", str(user.home / "out"))
    assert ran.code == 0, ran
    stats = sandbox.stats()
    assert stats["cdn_requests"] == 2 and stats["cdn_authorization_headers"] == 0


def test_a_redirect_from_the_gateway_to_another_host_carries_no_authorization(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    elsewhere = make_scripted({"GET /cdn/": Answer(body=PNG, content_type="image/png")})
    gateway = make_scripted({
        "GET /cdn/": lambda request: Answer(302, b"", headers={"Location": f"{elsewhere.base_url}{request.path}"}),
    })
    user = cli(gateway.base_url)
    user.login(KEY)
    ran = inproc(user, "gptimg", "generate", "a fox", "--yes", "--json", "--out", str(user.home / "out"))
    assert ran.code == 0, ran
    [followed] = elsewhere.seen("GET /cdn/")
    assert "authorization" not in followed.headers
    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in gateway.seen(f"CALL {SUBMIT_TOOL}"))
    assert len(assert_only_complete_pngs(user.home / "out")) == 1


HOSTILE_PROMPTS = [
    pytest.param("../../etc/passwd", id="dot-dot"),
    pytest.param("/abs/path/evil", id="absolute"),
    pytest.param("..", id="just-dot-dot"),
    pytest.param("x" * 10_000, id="10000-chars"),
    pytest.param("C:\\Windows\\system32\\evil", id="windows-path"),
    pytest.param("~/.ssh/authorized_keys", id="tilde"),
]


@pytest.mark.parametrize("prompt", HOSTILE_PROMPTS)
def test_a_prompt_cannot_steer_a_file_outside_out(
    prompt: str, make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran],
) -> None:
    sandbox = make_sandbox(delay=0.05)
    user = cli(sandbox.base_url)
    user.login(sandbox.create_account(email="names@example.invalid"))
    out = user.home / "deep" / "out"
    ran = inproc(user, "gptimg", "generate", prompt, "--yes", "--json", "--out", str(out))
    assert ran.code == 0, ran
    [saved] = assert_only_complete_pngs(out)
    assert len(saved.name) < 120
    assert saved_files(user.home / "deep") == [saved]


def test_a_nul_in_the_prompt_is_bad_input(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli], inproc: Callable[..., Ran]
) -> None:
    sandbox = make_sandbox()
    user = cli(sandbox.base_url)
    user.login(sandbox.create_account(email="nul@example.invalid"))
    ran = inproc(user, "gptimg", "generate", "../a\x00b", "--yes", "--json", "--out", str(user.home / "out"))
    assert ran.code == 2 and ran.json()["error"] == "invalid_arguments"
    assert sandbox.stats()["requests"] == 0


#: (job id, usable): printable short ids are used, with file names made safe; ids that are too long
#: or carry control/bidi characters are refused outright (outcome unknown, exit 7), never used.
HOSTILE_JOB_IDS = [
    pytest.param("../../../../tmp/evil", True, id="dot-dot"),
    pytest.param("/etc/passwd", True, id="absolute"),
    pytest.param("a/b\\c", True, id="separators"),
    pytest.param("j" * 10_000, False, id="10000-chars"),
    pytest.param("job\u202eevil", False, id="bidi-override"),
]


@pytest.mark.parametrize(("job_id", "usable"), HOSTILE_JOB_IDS)
def test_a_server_job_id_or_url_cannot_steer_a_file_outside_out(
    job_id: str, usable: bool, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli],
    inproc: Callable[..., Ran],
) -> None:
    gateway = make_scripted(job_id=job_id)

    def result(request: Request) -> Answer:
        urls = [f"{gateway.base_url}/cdn/../../../etc/passwd.png", f"{gateway.base_url}/cdn/%2e%2e/%2e%2e/x.png"]
        return Answer(body={"data": gateway.done(job_id, urls)})

    gateway.routes["CALL gpt-image-2.gpt_image2_result"] = result
    gateway.routes["GET *"] = Answer(body=PNG, content_type="image/png")  # whatever path the client ends up asking
    user = cli(gateway.base_url)
    user.login(KEY)
    out = user.home / "deep" / "out"
    ran = inproc(user, "gptimg", "generate", "a fox", "-n", "2", "--yes", "--json", "--out", str(out))
    if not usable:
        assert ran.code == 7 and ran.json()["error"] == "outcome_unknown", ran
        assert job_id not in ran.out + ran.err
        assert saved_files(user.home / "deep") == []
        return
    assert ran.code == 0, ran
    files = assert_only_complete_pngs(out)
    assert len(files) == 2 and all(len(f.name) < 120 for f in files)
    assert saved_files(user.home / "deep") == files
    strays = [path for path in saved_files(user.home) if path.suffix == ".png" and path.parent != out]
    assert strays == [] and not Path("/etc/passwd.png").exists(), strays


@pytest.mark.e2e
def test_credentials_are_private_even_under_umask_0(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli]
) -> None:
    sandbox = make_sandbox()
    user = cli(sandbox.base_url)
    key = sandbox.create_account(email="umask@example.invalid")
    done = subprocess.run([*UNO, "login", "--key", key], env=user.env, cwd=user.home, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL, preexec_fn=lambda: os.umask(0))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(user.credentials.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(user.credentials.stat().st_mode) == 0o600
    assert key not in done.stdout + done.stderr


def test_the_device_page_escapes_every_string_it_echoes(make_sandbox: Callable[..., SandboxGateway]) -> None:
    import httpx

    sandbox = make_sandbox()
    attack = '<script>alert("x")</script>"><img src=x onerror=alert(1)>'
    with httpx.Client(trust_env=False, timeout=10) as http:
        grant = http.post(f"{sandbox.base_url}/oauth/device/code",
                          json={"client_id": attack, "scope": attack}).json()
        pages = [
            http.get(f"{sandbox.base_url}/device", params={"code": grant["user_code"]}),
            http.get(f"{sandbox.base_url}/device", params={"code": attack}),
            http.get(f"{sandbox.base_url}/device?code=%3Cscript%3Ealert(1)%3C/script%3E&x=<script>"),
            http.post(f"{sandbox.base_url}/device/approve", data={"user_code": attack, "email": attack}),
            http.post(f"{sandbox.base_url}/device/deny", data={"user_code": attack}),
            http.post(f"{sandbox.base_url}/device/approve", data={"user_code": grant["user_code"], "email": attack}),
        ]
    for page in pages:
        assert "<script>" not in page.text and "<img" not in page.text, page.text
    assert "&lt;script&gt;" in pages[0].text  # the client id and scope were shown, escaped


@pytest.mark.e2e
def test_a_symlinked_uno_folder_and_credentials_file_are_followed_and_their_targets_permissions_left_alone(
    make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: Path
) -> None:
    gateway = make_scripted()
    user = cli(gateway.base_url)
    dotfiles = tmp_path / "dotfiles"
    (dotfiles / "uno").mkdir(parents=True)
    os.chmod(dotfiles / "uno", 0o755)
    shared = dotfiles / "uno-credentials.json"
    shared.write_text("[]")
    os.chmod(shared, 0o644)
    (user.home / ".uno").symlink_to(dotfiles / "uno", target_is_directory=True)
    (dotfiles / "uno" / "credentials.json").symlink_to(shared)

    for ran in (user.uno("login", "--key", KEY), user.gptimg("login", "--key", KEY + "b")):
        assert ran.code == 0, ran
        assert "readable by others" in ran.err and str(shared) in ran.err, ran  # warned, not "fixed"
    assert (user.home / ".uno").is_symlink() and user.credentials.is_symlink()  # still links
    assert KEY in shared.read_text() and KEY + "b" in shared.read_text()  # written through them
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert stat.S_IMODE((dotfiles / "uno").stat().st_mode) == 0o755
    assert user.gptimg("whoami").code == 0 and user.uno("whoami").code == 0  # read through them
