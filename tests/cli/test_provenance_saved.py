"""Every PNG ``generate`` saves carries its record; its pixel data is byte for byte what was downloaded."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Callable

import pytest
from tests.sandbox.pngcheck import parse_png

from gptimg.gateway import GatewayClient
from gptimg.provenance import read_png_text, read_record
from gptimg.sandbox import SandboxGateway

from ._support import EMAIL, Run

PROMPT = "a fox in the snow, 雪の狐 \u202e"


def test_saved_pngs_carry_the_record_and_the_downloaded_pixels(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    done = run("generate", PROMPT, "--style", "ghibli_anime", "--size", "1024x1536", "-n", "2", "--yes", "--json",
               "--out", str(tmp_path))
    assert done.code == 0, done.err
    data = done.json()["data"]
    client = GatewayClient(sandbox.base_url).with_key(logged_in)
    try:
        for index, item in enumerate(data["items"], start=1):
            saved = Path(item["path"])
            raw = io.BytesIO()
            client.download(item["url"], raw)
            downloaded = parse_png(raw.getvalue())
            stamped = parse_png(saved.read_bytes())
            assert stamped.pixels == downloaded.pixels
            assert stamped.chunk_types[stamped.chunk_types.index(b"IDAT"):] == downloaded.chunk_types[
                downloaded.chunk_types.index(b"IDAT"):]

            record = read_record(saved)
            assert record is not None
            assert record["prompt"] == PROMPT
            assert record["style"] == "ghibli_anime" and record["size"] == "1024x1536"
            assert (record["image_index"], record["image_count"]) == (index, 2)
            assert record["job_id"] == data["job_id"]
            assert record["model"] == "gpt-image-2"
            assert record["gateway"] == sandbox.base_url.split("//", 1)[1].rstrip("/")
            assert record["sandbox"] is True
            text = read_png_text(saved)
            assert text["Description"] == PROMPT and text["gptimg:job-id"] == data["job_id"]
            content = saved.read_bytes()
            assert logged_in.encode() not in content and EMAIL.encode() not in content
    finally:
        client.close()


def test_pillow_sees_the_record_of_a_saved_image(
    run: Callable[..., Run], sandbox: SandboxGateway, logged_in: str, tmp_path: Path
) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    done = run("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path))
    path = Path(done.json()["data"]["items"][0]["path"])
    with image_module.open(path) as image:
        image.load()
        assert image.text["Description"] == "a red fox"
        assert json.loads(image.text["gptimg:record"])["job_id"] == done.json()["data"]["job_id"]
