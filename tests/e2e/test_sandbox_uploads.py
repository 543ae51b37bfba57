"""Acceptance: uno-cli's reference-image upload lands in the sandbox and the submit accepts the locator."""

from __future__ import annotations

import json
from typing import Callable

import pytest

from gptimg import image_tool
from gptimg.sandbox.images import render_image

from .conftest import CliRunner, SandboxProcess, uno_cli_command


@pytest.mark.e2e
def test_uno_cli_uploads_a_local_reference_and_submits_with_its_url(
    sandbox: SandboxProcess, cli_runner: Callable[..., CliRunner]
) -> None:
    runner = cli_runner(sandbox.url, UNO_API_KEY=sandbox.create_account("Ref", "ref@example.invalid"))
    reference = runner.home / "cat.png"
    reference.write_bytes(render_image("my cat", None, "1024x1024", 0))
    arguments = {"prompt": "my cat as a lego figure", "style": "lego_brick", "reference_image_urls": str(reference)}

    out = runner.run_json(*uno_cli_command(), "call", image_tool.SUBMIT_TOOL, "--compact",
                          "--args", json.dumps(arguments))

    # uno-cli read our {"url", "file_id"} answer and the submit accepted the rewritten locator.
    assert out["success"] is True and out["data"]["status"] == "pending"
    assert sandbox.stats()["uploads"] == 1
    assert sandbox.stats()["submits"] == 1
