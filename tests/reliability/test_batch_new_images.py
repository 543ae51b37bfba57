"""Issue #13/#10: a batch line is paid for at most once; new images only with ``--new-images`` and its own yes.

Real ``gptimg batch`` processes against the sandbox (or the fault proxy in front of
it, for a gateway that has forgotten a job). The sandbox's submit count and the
account's balance are the money; the output folders are what the user keeps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pytest

from gptimg.image_tool import RESULT_TOOL
from gptimg.sandbox import SandboxGateway

from .conftest import Cli, saved_files
from .faultproxy import Fault, FaultProxy, Seen
from .test_money_path import write_manifest

pytestmark = pytest.mark.e2e

PROMPTS = ["a red fox", "a blue whale"]


def pngs(directory: Path) -> list[Path]:
    return [path for path in saved_files(directory) if path.suffix == ".png"]


def first_run(make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli]) -> tuple[SandboxGateway, Cli, Path]:
    """Two lines paid for and saved into ``out``: what every test here re-runs."""
    sandbox = make_sandbox(delay=0.2)
    user = cli(sandbox.base_url)
    user.login(sandbox.create_account(email="renew@example.invalid"))
    manifest = write_manifest(user, PROMPTS)
    first = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(user.home / "out"))
    assert first.code == 0, first
    assert sandbox.stats()["submits"] == 2 and len(pngs(user.home / "out")) == 2
    return sandbox, user, manifest


def balance(sandbox: SandboxGateway) -> float:
    return next(a["credits"] for a in sandbox.stats()["accounts"] if a["email"] == "renew@example.invalid")


def test_a_rerun_into_a_new_folder_without_the_flag_refetches_the_old_images_free(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli],
) -> None:
    sandbox, user, manifest = first_run(make_sandbox, cli)
    before = balance(sandbox)
    dry = user.gptimg("batch", str(manifest), "--dry-run", "--out", str(user.home / "new"), "--new-images")
    assert dry.code == 0 and "2 already have images or a paid job, paid again" in dry.out, dry

    rerun = user.gptimg("batch", str(manifest), "--json", "--out", str(user.home / "new"))  # no --yes: nothing to pay

    assert rerun.code == 0, rerun
    assert sandbox.stats()["submits"] == 2 and balance(sandbox) == before
    assert len(pngs(user.home / "new")) == 2


def test_new_images_with_yes_pays_once_more_per_line_and_keeps_the_old_images(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli],
) -> None:
    sandbox, user, manifest = first_run(make_sandbox, cli)
    out = user.home / "out"
    old = {path: path.read_bytes() for path in pngs(out)}

    again = user.gptimg("batch", str(manifest), "--new-images", "--yes", "--json", "--out", str(out))

    assert again.code == 0, again
    assert sandbox.stats()["submits"] == 4, "exactly one more submit per line"
    lines = [json.loads(text) for text in again.out.splitlines()[:2]]
    assert all(line["status"] == "done" and line["credits_used"] for line in lines), lines
    assert all(path.read_bytes() == data for path, data in old.items()), "the old images are untouched"
    assert len(pngs(out)) == 4
    rerun = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))
    assert rerun.code == 0 and sandbox.stats()["submits"] == 4, "a plain re-run afterwards pays nothing"


def test_new_images_without_a_terminal_and_without_yes_spends_nothing(
    make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli],
) -> None:
    sandbox, user, manifest = first_run(make_sandbox, cli)
    before = balance(sandbox)

    refused = user.gptimg("batch", str(manifest), "--new-images", "--json", "--out", str(user.home / "out"))

    assert refused.code != 0, refused
    error = json.loads(refused.out)
    assert error["error"] == "confirmation_required" and "--new-images: 2 line(s)" in error["message"], error
    assert sandbox.stats()["submits"] == 2 and balance(sandbox) == before


def test_a_line_whose_job_the_gateway_forgot_is_reported_once_with_the_command_for_a_new_image(
    make_sandbox: Callable[..., SandboxGateway], make_proxy: Callable[..., FaultProxy], cli: Callable[..., Cli],
) -> None:
    sandbox = make_sandbox(delay=0.2)

    def rule(seen: Seen) -> Fault | None:  # the gateway has lost every job: it is never found again
        if seen.tool == RESULT_TOOL:
            return Fault("status", status=404, body={"error": "job_not_found", "message": "No such job"})
        return None

    proxy = make_proxy(sandbox.base_url, rule)
    user = cli(proxy.base_url)
    user.login(sandbox.create_account(email="forgotten@example.invalid"))
    manifest = write_manifest(user, ["a lost fox"])
    out = user.home / "out"
    first = user.gptimg("batch", str(manifest), "--yes", "--json", "--out", str(out))
    job_id = json.loads(first.out.splitlines()[0])["job_id"]

    rerun = user.gptimg("batch", str(manifest), "--yes", "--out", str(out))  # human form, as a person sees it

    assert rerun.code == 7, rerun
    assert sandbox.stats()["submits"] == 1, "never paid again on its own"
    said = rerun.out + rerun.err
    command = f"gptimg batch {manifest} --out {out} --resubmit-failed"
    assert said.count(command) == 1, said
    assert said.count(job_id) == 1 and "line-0" in said, said
    fresh = user.gptimg(*command.split()[1:], "--yes", "--json")
    assert sandbox.stats()["submits"] == 2, fresh


def test_new_images_stay_under_max_credits(make_sandbox: Callable[..., SandboxGateway], cli: Callable[..., Cli]) -> None:
    sandbox, user, manifest = first_run(make_sandbox, cli)
    dry = json.loads(user.gptimg("batch", str(manifest), "--dry-run", "--json", "--new-images").out)["data"]
    cost = dry["cost_per_job"]
    assert dry["submits"] == 2, dry

    capped = user.gptimg("batch", str(manifest), "--new-images", "--yes", "--json", "--max-credits", f"{cost:g}",
                         "--out", str(user.home / "out"))

    assert capped.code == 5, capped  # one line paid again, the other skipped by the cap
    assert sandbox.stats()["submits"] == 3
