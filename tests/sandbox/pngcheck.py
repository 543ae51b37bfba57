"""A strict little PNG reader for tests: every chunk's CRC, IHDR, and the inflated pixel data size.

It reads 8-bit RGB and 8-bit indexed-colour (palette) PNGs, the two kinds the sandbox
has served; a palette image's pixels are expanded to RGB so that tests compare what
a viewer would see, not palette indices (which are the same for every prompt).
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

SIGNATURE = b"\x89PNG\r\n\x1a\n"
RGB, INDEXED = 2, 3  # IHDR colour types


@dataclass
class PngInfo:
    width: int
    height: int
    chunk_types: list[bytes] = field(default_factory=list)
    chunk_sizes: dict[bytes, int] = field(default_factory=dict)
    pixels: bytes = b""


def parse_png(data: bytes) -> PngInfo:
    """Raise AssertionError unless ``data`` is a well-formed 8-bit RGB or palette PNG; return what it holds."""
    assert data[:8] == SIGNATURE, "bad PNG signature"
    pos = 8
    types: list[bytes] = []
    sizes: dict[bytes, int] = {}
    idat = b""
    palette = b""
    width = height = colour = -1
    while pos < len(data):
        assert pos + 8 <= len(data), "truncated chunk header"
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        assert len(body) == length, f"truncated {kind!r} chunk"
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        types.append(kind)
        sizes[kind] = sizes.get(kind, 0) + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) in ((8, RGB, 0), (8, INDEXED, 0)), (depth, colour, interlace)
        elif kind == b"PLTE":
            assert b"IDAT" not in types[:-1], "PLTE after IDAT"
            assert 0 < length <= 3 * 256 and length % 3 == 0, "bad PLTE length"
            palette = body
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert types[0] == b"IHDR" and types[-1] == b"IEND", types
    raw = zlib.decompress(idat)
    if colour == INDEXED:
        assert palette, "an indexed-colour PNG without PLTE"
        pixels = _expand_palette(raw, width, height, palette)
    else:
        assert b"PLTE" not in types, "this reader takes no suggested palette on an RGB image"
        pixels = raw
    assert len(pixels) == height * (1 + 3 * width), "pixel data does not match IHDR"
    return PngInfo(width=width, height=height, chunk_types=types, chunk_sizes=sizes, pixels=pixels)


def _expand_palette(raw: bytes, width: int, height: int, palette: bytes) -> bytes:
    """Unfiltered index rows → RGB rows in the RGB layout (filter byte 0, then R, G, B per pixel)."""
    stride = 1 + width
    assert len(raw) == height * stride, "index data does not match IHDR"
    assert all(raw[y * stride] == 0 for y in range(height)), "this reader decodes only filter type 0"
    indices = b"".join(raw[y * stride + 1 : (y + 1) * stride] for y in range(height))
    entries = len(palette) // 3
    assert max(indices) < entries, "a pixel indexes past the palette"
    channels = [bytes(palette[3 * i + k] for i in range(entries)) + bytes(256 - entries) for k in range(3)]
    rgb = bytearray(3 * width * height)
    for k, table in enumerate(channels):
        rgb[k::3] = indices.translate(table)
    row = 3 * width
    return b"".join(b"\x00" + bytes(rgb[y * row : (y + 1) * row]) for y in range(height))


def without_provenance(data: bytes) -> bytes:
    """``data`` minus the iTXt chunks gptimg adds when it saves (its generation record): the bytes downloaded."""
    from gptimg.provenance import OUR_KEYWORDS

    out, pos = [data[:8]], 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        end = pos + 12 + length
        kind, keyword = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length].split(b"\x00", 1)[0]
        if not (kind == b"iTXt" and keyword.decode("latin-1") in OUR_KEYWORDS):
            out.append(data[pos:end])
        pos = end
    return b"".join(out)
