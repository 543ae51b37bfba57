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
