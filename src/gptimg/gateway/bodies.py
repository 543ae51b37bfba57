"""Reading an answer's body within a size and a time budget, the same way on both wires.

Wires hand over the body exactly as it was sent. Decoding happens here, in small
steps: a gzip "bomb" (a few kilobytes that inflate to gigabytes) is inflated at most
``CHUNK`` bytes at a time, so a batch of eight of them stays a few megabytes, and the
size cap counts decoded bytes. ``Content-Length`` counts the bytes sent, so it is
compared with those, never with the decoded length (which made every gzip-encoded
image look cut off). A deadline bounds the whole body: a server sending a byte a
second never trips a per-read timeout, but it does trip this.
"""

from __future__ import annotations

import re
import time
import zlib
from collections.abc import Iterator

from gptimg import errors
from gptimg.gateway.urls import origin
from gptimg.gateway.wire import DROPPED, READ_TIMEOUT, Response, WireFailure

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import IO, Any

CHUNK = 65536
#: The most ``body_into`` reads at once: a 128 MiB image takes ~128 reads and writes, RSS stays flat.
BUFFER = 1024 * 1024
#: What we can decode; we ask for ``identity``, but a server may compress anyway.
_GZIP_WBITS = {"gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS, "deflate": zlib.MAX_WBITS}


class BodyTooLarge(Exception):
    """The decoded body passed its cap."""


class UnsupportedEncoding(Exception):
    """A ``Content-Encoding`` we did not ask for and cannot decode."""


def _inflate(decoder: Any, data: bytes) -> Iterator[bytes]:
    while data:
        piece = decoder.decompress(data, CHUNK)
        if piece:
            yield piece
        data = decoder.unconsumed_tail


def _decoder(encoding: str) -> Any:
    name = encoding.strip().lower()
    if name in ("", "identity"):
        return None
    if name not in _GZIP_WBITS:
        raise UnsupportedEncoding(name)
    return zlib.decompressobj(_GZIP_WBITS[name])


def body_chunks(response: Response, *, max_bytes: int | None, until: float | None) -> Iterator[bytes]:
    """The decoded body in chunks of at most ``CHUNK`` bytes.

    Raises ``BodyTooLarge`` past ``max_bytes`` decoded bytes, ``WireFailure(READ_TIMEOUT)``
    once ``until`` (a ``time.monotonic`` instant) has passed, ``WireFailure(DROPPED)``
    when fewer bytes came than ``Content-Length`` promised or a compressed stream
    stops short, and ``UnsupportedEncoding`` for an encoding other than gzip/deflate.
    """
    decoder = _decoder(response.headers.get("content-encoding") or "")
    declared = (response.headers.get("content-length") or "").strip()
    sent = 0
    total = 0
    for raw in response.iter_bytes(CHUNK):
        sent += len(raw)
        if until is not None and time.monotonic() > until:
            raise WireFailure(READ_TIMEOUT, arrived=True)
        for piece in _inflate(decoder, raw) if decoder is not None else (raw,):
            total += len(piece)
            if max_bytes is not None and total > max_bytes:
                raise BodyTooLarge()
            yield piece
    if declared.isdigit() and int(declared) != sent:
        raise WireFailure(DROPPED, arrived=True, detail="short body")
    if decoder is not None:
        rest = decoder.flush()
        if max_bytes is not None and total + len(rest) > max_bytes:
            raise BodyTooLarge()
        if rest:
            yield rest
        if not decoder.eof:
            raise WireFailure(DROPPED, arrived=True, detail="compressed body cut off")


def body_into(response: Response, sink: IO[bytes], *, max_bytes: int | None, until: float | None) -> int:
    """Write the decoded body to ``sink``; return how many bytes. Same caps and failures as ``body_chunks``.

    An undecoded body on a wire that can ``readinto1`` (the standard-library one) is read
    straight into one reused buffer and written from it: no bytes object per read, no
    copy. Each read returns as soon as any bytes arrive, so the deadline is still
    checked as a dribbling body comes in. Anything else goes through ``body_chunks``.
    """
    readinto1 = getattr(response, "readinto1", None)
    if readinto1 is None or _decoder(response.headers.get("content-encoding") or "") is not None:
        total = 0
        for chunk in body_chunks(response, max_bytes=max_bytes, until=until):
            sink.write(chunk)
            total += len(chunk)
        return total
    declared = (response.headers.get("content-length") or "").strip()
    expected = int(declared) if declared.isdigit() else None
    if expected is not None and max_bytes is not None and expected > max_bytes:
        raise BodyTooLarge()
    view = memoryview(bytearray(min(BUFFER, max(BUFFER if expected is None else expected, CHUNK))))
    total = 0
    while True:
        count = readinto1(view)
        if not count:
            break
        total += count
        if until is not None and time.monotonic() > until:
            raise WireFailure(READ_TIMEOUT, arrived=True)
        if max_bytes is not None and total > max_bytes:
            raise BodyTooLarge()
        sink.write(view[:count])
    if expected is not None and expected != total:
        raise WireFailure(DROPPED, arrived=True, detail="short body")
    return total


def deadline_in(seconds: float, deadline: float | None = None) -> float:
    """``seconds`` from now, or ``deadline`` if that comes first (both ``time.monotonic``)."""
    own = time.monotonic() + seconds
    return own if deadline is None else min(own, deadline)


def read_capped(response: Response, limit: int, until: float | None) -> bytes | None:
    """The decoded body, or None once it passes ``limit`` bytes (a stray server could send gigabytes)."""
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    try:
        return b"".join(body_chunks(response, max_bytes=limit, until=until))
    except BodyTooLarge:
        return None


def _has_space(text: str) -> bool:
    """Any character ``str.isspace`` calls white space (``re``'s ``\\s`` is the same test, without a
    generator step per character: ~1 % of a batch client's CPU)."""
    global _space
    if _space is None:
        _space = re.compile(r"\s")
    return _space.search(text) is not None


_space: re.Pattern[str] | None = None


def check_download_url(url: str) -> None:
    """An image URL from an answer: http(s), one line, a real port; else a typed error, not a crash."""
    from gptimg.terminal import has_unsafe

    if _has_space(url) or has_unsafe(url):
        raise errors.InvalidResponse("Refusing to download from a URL with spaces or control characters.")
    scheme = url.split(":", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise errors.InvalidResponse(f"Refusing to download from a {scheme[:20]}: URL.")
    try:
        host = origin(url)[1]
    except ValueError:
        raise errors.InvalidResponse("Refusing to download from a URL with an unusable port.") from None
    if not host:
        raise errors.InvalidResponse("Refusing to download from a URL without a host.")
