"""Provenance inserted while a PNG downloads must give exactly the bytes ``stamp_png`` gives, or step aside.

``jobs.stampstream`` replaces a 128 MiB copy-and-fsync with an insert on the way in.
It may only claim a stamp when the result is byte for byte what ``provenance.stamp_png``
writes; in every other case (a gateway planting our keywords, bytes after IEND, a
broken or foreign file) it says so and the rewrite runs, with the same result as before.
Fed in every split a socket could produce, down to a byte at a time.
"""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from gptimg.jobs.stampstream import StampingWriter
from gptimg.provenance import RECORD_KEY, stamp_png, text_chunks

from .scripted import PNG, png_chunk

RECORD = {"prompt": "a red fox", "job_id": "job1", "image_index": 1, "image_count": 1}
IEND = png_chunk(b"IEND", b"")
BODY = PNG[: -len(IEND)]


def itxt(keyword: str, text: str) -> bytes:
    return png_chunk(b"iTXt", keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode())


CASES = {
    "plain": (PNG, True),
    "padded": (BODY + png_chunk(b"paDd", bytes(300_000)) + IEND, True),
    "foreign text": (BODY + png_chunk(b"tEXt", b"Comment\x00made elsewhere") + itxt("Title", "x" * 200) + IEND, True),
    "our keyword planted": (BODY + itxt(RECORD_KEY, '{"prompt": "not yours"}') + IEND, False),
    "bytes after IEND": (PNG + b"trailing", False),
    "cut short": (PNG[:-5], False),
    "not a PNG": (b"\xff\xd8\xff\xe0" + bytes(5000), False),
    "bad chunk header": (BODY + b"\x00\x00\x00\x04b@d!" + b"\x00" * 8 + IEND, False),
}


def stamped_by_rewrite(tmp_path: Path, raw: bytes) -> bytes:
    path = tmp_path / "rewrite.png"
    path.write_bytes(raw)
    stamp_png(path, RECORD)
    return path.read_bytes()


def stream(raw: bytes, splits: random.Random | None) -> tuple[bytes, bool]:
    sink = io.BytesIO()
    writer = StampingWriter(sink, text_chunks(RECORD))  # type: ignore[arg-type]
    view, at = memoryview(raw), 0
    while at < len(raw):
        step = 1 if splits is None else splits.choice([1, 3, 8, 13, 80, 4096, 1 << 20])
        writer.write(view[at:at + step])
        at += step
    writer.finish()
    return sink.getvalue(), writer.stamped


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_the_streamed_stamp_is_the_rewrite_or_nothing(case: str, seed: int | None, tmp_path: Path) -> None:
    raw, expect_stamped = CASES[case]
    out, stamped = stream(raw, None if seed is None else random.Random(seed))
    assert stamped is expect_stamped
    if stamped:
        assert out == stamped_by_rewrite(tmp_path, raw)
    else:  # what the rewrite then makes of the file is what it makes of the download itself
        path = tmp_path / "streamed.png"
        path.write_bytes(out)
        stamp_png(path, RECORD)
        if case in ("cut short", "bad chunk header"):  # no PNG to walk: kept as it came, our chunks after IHDR
            assert out.replace(text_chunks(RECORD), b"", 1) == raw
        else:
            assert path.read_bytes() == stamped_by_rewrite(tmp_path, raw)


def test_a_retried_download_starts_the_stamp_again() -> None:
    sink = io.BytesIO()
    writer = StampingWriter(sink, text_chunks(RECORD))  # type: ignore[arg-type]
    writer.write(PNG[:40])
    writer.seek(0)
    writer.truncate()
    writer.write(PNG)
    writer.finish()
    assert writer.stamped and sink.getvalue().count(b"IHDR") == 1
