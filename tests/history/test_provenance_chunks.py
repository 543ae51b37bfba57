"""The PNG text chunks themselves: written after IHDR, read back by us and by Pillow, pixels untouched."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest
from tests.sandbox.pngcheck import parse_png

from gptimg.provenance import (
    MODEL,
    OUR_KEYWORDS,
    build_record,
    itxt_chunk,
    read_png_text,
    read_record,
    stamp_png,
)
from gptimg.sandbox.images import chunk, render_image

HOSTILE = 'a "fox" <script>alert(1)</script> \x1b[31m red \u202e evil 狐狸 🦊 \\ done'


def _record(**changes: object) -> dict[str, object]:
    values: dict[str, object] = dict(
        prompt=HOSTILE, style="ghibli_anime", size="1024x1536", image_index=2, image_count=3,
        job_id="0123456789ab", gateway_url="https://user:pw@agentools.uno/base", created_at="2026-11-25T16:00:00.123Z",
        sandbox=False,
    )
    values.update(changes)
    return build_record(**values)  # type: ignore[arg-type]


def _png(tmp_path: Path, *extra: bytes) -> Path:
    png = render_image("a fox", None, "1024x1024", 1)
    # Put extra chunks right after IHDR, as other encoders do.
    ihdr_end = 8 + 12 + 13
    path = tmp_path / "image.png"
    path.write_bytes(png[:ihdr_end] + b"".join(extra) + png[ihdr_end:])
    return path


def test_stamp_writes_every_field_after_ihdr_and_leaves_pixels_alone(tmp_path: Path) -> None:
    path = _png(tmp_path)
    before = parse_png(path.read_bytes())
    assert stamp_png(path, _record())
    after = parse_png(path.read_bytes())  # every CRC checked
    assert after.pixels == before.pixels
    assert after.chunk_types[0] == b"IHDR"
    first_idat = after.chunk_types.index(b"IDAT")
    assert after.chunk_types[1:first_idat].count(b"iTXt") == len(OUR_KEYWORDS)
    text = read_png_text(path)
    assert text["Description"] == HOSTILE
    assert text["Source"] == MODEL
    assert text["Software"].startswith("gptimg ")
    assert text["Creation Time"] == "2026-11-25T16:00:00Z"
    assert text["gptimg:style"] == "ghibli_anime"
    assert text["gptimg:size"] == "1024x1536"
    assert text["gptimg:image"] == "2 of 3"
    assert text["gptimg:job-id"] == "0123456789ab"
    assert text["gptimg:gateway"] == "agentools.uno"  # no userinfo, no path
    assert text["gptimg:sandbox"] == "no"
    record = json.loads(text["gptimg:record"])
    assert record["prompt"] == HOSTILE and record["image_index"] == 2 and record["image_count"] == 3
    assert read_record(path) == record


def test_pillow_reads_the_same_text_and_pixels(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    path = _png(tmp_path)
    with image_module.open(path) as original:
        pixels = original.tobytes()
    stamp_png(path, _record())
    with image_module.open(path) as stamped:
        stamped.load()
        assert stamped.tobytes() == pixels
        assert stamped.text["Description"] == HOSTILE
        assert stamped.text["gptimg:job-id"] == "0123456789ab"
        assert json.loads(stamped.text["gptimg:record"])["style"] == "ghibli_anime"


def test_restamping_replaces_our_chunks_and_keeps_others(tmp_path: Path) -> None:
    foreign = chunk(b"tEXt", b"Author\x00someone")
    stale = chunk(b"tEXt", b"Software\x00another encoder")
    path = _png(tmp_path, foreign, stale)
    stamp_png(path, _record(style="old"))
    stamp_png(path, _record(style="new"))
    info = parse_png(path.read_bytes())
    assert info.chunk_types.count(b"iTXt") == len(OUR_KEYWORDS)
    text = read_png_text(path)
    assert text["Author"] == "someone"
    assert text["Software"].startswith("gptimg ")
    assert text["gptimg:style"] == "new"


def test_never_the_account_or_a_key(tmp_path: Path) -> None:
    path = _png(tmp_path)
    record = _record()
    record["account"] = "someone@example.com"
    record["api_key"] = "uno_sk_secret"
    stamp_png(path, record)
    data = path.read_bytes()
    assert b"someone@example.com" not in data and b"uno_sk_secret" not in data


@pytest.mark.parametrize(
    "content",
    [b"not a png at all", b"\x89PNG\r\n\x1a\n" + struct.pack(">I4s", 13, b"IHDR") + b"\x00" * 5, b""],
    ids=["text", "truncated", "empty"],
)
def test_anything_but_a_whole_png_is_left_exactly_as_it_was(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "odd.png"
    path.write_bytes(content)
    assert stamp_png(path, _record()) is False
    assert path.read_bytes() == content
    assert [p.name for p in tmp_path.iterdir()] == ["odd.png"]  # no temporary left behind
    assert read_record(path) is None


def test_a_file_without_a_record_reads_as_none(tmp_path: Path) -> None:
    assert read_record(_png(tmp_path)) is None


def test_a_compressed_text_bomb_is_not_inflated(tmp_path: Path) -> None:
    bomb = zlib.compress(b"x" * (50 * 1024 * 1024), 9)
    path = _png(tmp_path, chunk(b"zTXt", b"Comment\x00\x00" + bomb), itxt_chunk("Plain", "fine"))
    text = read_png_text(path)
    assert "Comment" not in text and text["Plain"] == "fine"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_converted_copies_carry_the_same_record(tmp_path: Path, fmt: str) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    from gptimg.provenance_xmp import save_options_from_png

    png = _png(tmp_path)
    record = _record()
    stamp_png(png, record)
    target = tmp_path / f"image.{fmt.lower()}"
    with image_module.open(png) as image:
        image.convert("RGB").save(target, fmt, **save_options_from_png(png))
    assert read_record(target) == record
    with image_module.open(target) as converted:
        exif = converted.getexif()
        assert exif[0x0131].startswith("gptimg ")  # EXIF Software
        assert 0x010E not in exif  # the prompt is not ASCII, so not in EXIF's ASCII ImageDescription


def test_ascii_prompts_also_go_to_exif_image_description(tmp_path: Path) -> None:
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    from gptimg.provenance_xmp import pillow_save_options

    target = tmp_path / "fox.jpg"
    with image_module.open(_png(tmp_path)) as image:
        image.convert("RGB").save(target, "JPEG", **pillow_save_options(_record(prompt="a red fox")))
    with image_module.open(target) as converted:
        assert converted.getexif()[0x010E] == "a red fox"


@pytest.mark.parametrize("stamp", [
    "2026-11-25T21:55:27.725Z", "2026-11-25T21:55:27Z", "2026-11-25T21:55:27.123456Z", "2026-11-25T21:55:27+02:00",
    "2026-02-30T00:00:00Z", "2026-02-03T24:00:00Z", "2026-02-03T23:60:00Z", "2026-02-03T23:00:60Z",
    "2026-02-03T23:00:00.1Z", "2026-02-03 23:00:00Z", "not a time", "",
])
def test_the_creation_time_is_the_journal_stamp_in_utc_to_the_second(stamp: str) -> None:
    """The fast path for the journal's own stamps answers exactly as parsing them would; unreadable means now."""
    from datetime import datetime, timezone

    from gptimg.provenance import _utc_iso

    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        expected = parsed.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except ValueError:
        expected = None
    before = datetime.now(timezone.utc).replace(microsecond=0)
    answer = _utc_iso(stamp)
    if expected is not None and parsed.tzinfo is not None:
        assert answer == expected
    else:
        when = datetime.fromisoformat(answer.replace("Z", "+00:00"))
        assert before <= when <= datetime.now(timezone.utc)
