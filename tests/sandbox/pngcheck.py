"""A strict little PNG reader for tests: every chunk's CRC, IHDR, and the inflated pixel data size."""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass
class PngInfo:
    width: int
    height: int
    chunk_types: list[bytes] = field(default_factory=list)
    chunk_sizes: dict[bytes, int] = field(default_factory=dict)
    pixels: bytes = b""


def parse_png(data: bytes) -> PngInfo:
    """Raise AssertionError unless ``data`` is a well-formed 8-bit RGB PNG; return what it holds."""
    assert data[:8] == SIGNATURE, "bad PNG signature"
    pos = 8
    types: list[bytes] = []
    sizes: dict[bytes, int] = {}
    idat = b""
    width = height = -1
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
            assert (depth, colour, interlace) == (8, 2, 0)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert types[0] == b"IHDR" and types[-1] == b"IEND", types
    pixels = zlib.decompress(idat)
    assert len(pixels) == height * (1 + 3 * width), "pixel data does not match IHDR"
    return PngInfo(width=width, height=height, chunk_types=types, chunk_sizes=sizes, pixels=pixels)


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
