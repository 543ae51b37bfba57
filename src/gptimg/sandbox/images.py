"""Real, valid PNGs for the sandbox's "generated" images, encoded with the standard library.

Clients check what they download (signature, dimensions, size), so the
sandbox must serve genuine PNGs of the requested size. The picture is a
shaded grid whose colours come from a hash of (prompt, style, size, index):
the same job always yields the same bytes, and different prompts differ.

Speed matters because a 1536x1024 image is 4.7 MB of raw pixels: rows are
built with bytes multiplication (a few operations per row, none per pixel),
and recent images are cached.
"""

from __future__ import annotations

import functools
import hashlib
import struct
import zlib

from gptimg import image_tool

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: Private ancillary chunk type for padding: decoders must skip it (lowercase 1st and 2nd letters).
PADDING_CHUNK_TYPE = b"paDd"
GRID = 8
#: Shading steps inside one grid cell; rows within a step are identical and reused.
SHADES = 16


def image_dimensions(size: str) -> tuple[int, int]:
    """Width and height for a size argument; ``auto`` means the model's default square."""
    if size == "auto" or size not in image_tool.SIZES:
        size = image_tool.DEFAULT_SIZE
    width, height = size.split("x")
    return int(width), int(height)


def chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC over type and data."""
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


IEND_CHUNK = chunk(b"IEND", b"")


def _palette(seed: bytes) -> list[list[bytes]]:
    stream = hashlib.shake_256(seed).digest(GRID * GRID * 3)
    return [
        [stream[(r * GRID + c) * 3 : (r * GRID + c) * 3 + 3] for c in range(GRID)]
        for r in range(GRID)
    ]


def _spans(total: int, parts: int) -> list[int]:
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _shade_table(step: int) -> bytes:
    factor = 0.55 + 0.45 * step / (SHADES - 1)
    return bytes(min(255, int(v * factor)) for v in range(256))


#: One byte-translation table per shading step: shading a colour is then one C call
#: (``bytes.translate``), not a Python loop per channel (that loop was ~30% of the
#: sandbox's CPU in a batch, which shares the machine with the client it serves).
_SHADE_TABLES = [_shade_table(step) for step in range(SHADES)]


def _shade(rgb: bytes, step: int) -> bytes:
    return rgb.translate(_SHADE_TABLES[step])


def encode_grid_png(width: int, height: int, seed: bytes) -> bytes:
    """An RGB PNG of a shaded colour grid derived from ``seed``."""
    palette = _palette(seed)
    col_widths = _spans(width, GRID)
    raw_parts: list[bytes] = []
    for r, cell_height in enumerate(_spans(height, GRID)):
        for step, band in enumerate(_spans(cell_height, SHADES)):
            if band == 0:
                continue
            row = b"\x00" + b"".join(
                _shade(palette[r][c], step) * w for c, w in enumerate(col_widths)
            )
            raw_parts.append(row * band)
    raw = b"".join(raw_parts)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return PNG_SIGNATURE + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 1)) + IEND_CHUNK


#: Enough for every image of a wave of 32 four-image jobs (a PNG here is ~30 KB).
@functools.lru_cache(maxsize=256)
def render_image(prompt: str, style: str | None, size: str, index: int) -> bytes:
    """The job's ``index``-th image, identical every time it is asked for."""
    width, height = image_dimensions(size)
    seed = "\x1f".join((prompt, style or "", f"{width}x{height}", str(index))).encode("utf-8")
    return encode_grid_png(width, height, hashlib.sha256(seed).digest())


@functools.lru_cache(maxsize=2)
def padding_chunk(nbytes: int) -> bytes:
    """A private ancillary chunk carrying ``nbytes`` zero bytes; decoders skip it."""
    return chunk(PADDING_CHUNK_TYPE, bytes(nbytes)) if nbytes > 0 else b""


def png_parts(png: bytes, padding: int) -> list[bytes]:
    """The PNG as pieces to write, with the padding chunk before IEND, without copying the padding."""
    if padding <= 0:
        return [png]
    return [png[: -len(IEND_CHUNK)], padding_chunk(padding), IEND_CHUNK]
