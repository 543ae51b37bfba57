from __future__ import annotations

import time

import pytest

from gptimg.sandbox import images

from .pngcheck import parse_png


@pytest.mark.parametrize(
    ("size", "expected"),
    [("1024x1024", (1024, 1024)), ("1024x1536", (1024, 1536)), ("1536x1024", (1536, 1024)), ("auto", (1024, 1024))],
)
def test_every_size_renders_a_valid_png_of_that_size(size: str, expected: tuple[int, int]) -> None:
    info = parse_png(images.render_image("a lighthouse", "pixel_8bit", size, 0))
    assert (info.width, info.height) == expected


def test_same_job_gives_identical_bytes_even_after_the_cache_is_cleared() -> None:
    first = images.render_image("a fox", "ghibli_anime", "1024x1024", 1)
    images.render_image.cache_clear()
    assert images.render_image("a fox", "ghibli_anime", "1024x1024", 1) == first


@pytest.mark.parametrize(
    "other",
    [("a wolf", "ghibli_anime", "1024x1024", 1), ("a fox", "pixar_3d", "1024x1024", 1),
     ("a fox", "ghibli_anime", "1024x1024", 2), ("a fox", None, "1024x1024", 1)],
)
def test_prompt_style_and_index_each_change_the_pixels(other: tuple) -> None:
    base = parse_png(images.render_image("a fox", "ghibli_anime", "1024x1024", 1)).pixels
    assert parse_png(images.render_image(*other)).pixels != base


def test_image_is_not_a_flat_colour() -> None:
    pixels = parse_png(images.render_image("a fox", None, "1024x1024", 0)).pixels
    assert len(set(pixels[1:3 * 1024 + 1])) > 3


def test_padding_adds_a_private_ancillary_chunk_and_keeps_the_png_valid() -> None:
    png = images.render_image("big", None, "1536x1024", 0)
    padded = b"".join(images.png_parts(png, 1 << 20))
    info = parse_png(padded)
    assert info.chunk_sizes[images.PADDING_CHUNK_TYPE] == 1 << 20
    assert len(padded) == len(png) + (1 << 20) + 12
    # lowercase first and second letters: ancillary and private, so decoders skip it.
    assert images.PADDING_CHUNK_TYPE[0:1].islower() and images.PADDING_CHUNK_TYPE[1:2].islower()
    assert info.chunk_types[-2:] == [images.PADDING_CHUNK_TYPE, b"IEND"]


def test_no_padding_serves_the_png_unchanged() -> None:
    png = images.render_image("small", None, "1024x1024", 0)
    assert images.png_parts(png, 0) == [png]


def test_largest_size_encodes_fast() -> None:
    images.render_image.cache_clear()
    started = time.perf_counter()
    images.render_image("speed", "cyberpunk_neon", "1536x1024", 3)
    assert time.perf_counter() - started < 1.0


def test_pixel_data_is_deflated_once_per_size_not_once_per_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sandbox's CPU per image: a new prompt at a size already drawn costs no pixel encoding."""
    images.render_image.cache_clear()
    images.render_image("warm-up", None, "1024x1536", 0)
    deflated: list[int] = []
    real_compress = images.zlib.compress

    def counting_compress(data: bytes, *args: object) -> bytes:
        deflated.append(len(data))
        return real_compress(data, *args)

    monkeypatch.setattr(images.zlib, "compress", counting_compress)
    drawn = {images.render_image(f"prompt {i}", "pixar_3d", "1024x1536", i % 4) for i in range(50)}
    assert len(drawn) == 50
    assert deflated == []


def test_pillow_sees_the_pixels_our_reader_sees_and_the_client_converts_them() -> None:
    """A palette PNG must decode to the same picture in Pillow, and convert to JPEG and WebP
    through the client's own converter (``generate -o x.jpg``)."""
    image_module = pytest.importorskip("PIL.Image", reason="Pillow is in the test extra")
    import io
    import tempfile
    from pathlib import Path

    from gptimg.imagetypes import sniff_image_type
    from gptimg.jobs.targets import _convert

    png = images.render_image("a heron", "watercolor", "1536x1024", 2)
    info = parse_png(png)
    with image_module.open(io.BytesIO(png)) as image:
        rgb = image.convert("RGB")
        assert rgb.size == (1536, 1024)
        rows = [info.pixels[y * (1 + 3 * 1536) + 1 : (y + 1) * (1 + 3 * 1536)] for y in range(1024)]
        assert rgb.tobytes() == b"".join(rows)
        assert len(rgb.getcolors(maxcolors=1 << 20) or []) >= 64  # a grid of distinct cells, not a flat fill
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "heron.png"
        source.write_bytes(png)
        for fmt, media in (("JPEG", "image/jpeg"), ("WEBP", "image/webp")):
            converted = _convert(source, fmt, Path(folder))
            assert sniff_image_type(converted.read_bytes()[:32]) == media
            with image_module.open(converted) as back:
                assert back.size == (1536, 1024)
