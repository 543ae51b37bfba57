"""Provenance inside the image: what made it, written into the file itself.

A gptimg PNG carries its generation record in PNG text chunks, so a file that is
moved, renamed or shared still says which prompt, style and job produced it.

Which keys, and why:

* The PNG specification's registered keywords, which every tool shows under its
  own name: ``Description`` (the prompt, verbatim), ``Software`` (``gptimg
  0.1.0``), ``Source`` (the model, ``gpt-image-2``: the spec's "device used to
  create the image") and ``Creation Time`` (ISO 8601, UTC; when the job was
  submitted). ``exiftool`` prints them as Description, Software, Source and
  Creation Time; ImageMagick ``identify -verbose`` lists them under Properties;
  Pillow's ``Image.text`` has them as they are.
* One namespaced key per remaining field: ``gptimg:style``, ``gptimg:size``,
  ``gptimg:image`` (``2 of 4``), ``gptimg:job-id``, ``gptimg:gateway`` (the host
  only) and ``gptimg:sandbox`` (``yes``/``no``). A prefix keeps them apart from
  other programs' keys and groups them in every listing (exiftool drops the colon:
  ``Gptimgstyle``, ``Gptimgjob-id``...; ImageMagick and Pillow show the keys as written).
* ``gptimg:record``: the whole record as one JSON object, for programs. Not the
  ``parameters`` key: AUTOMATIC1111-style readers expect their own plain-text
  format under that name and would misread JSON.

Every value goes in an ``iTXt`` chunk (UTF-8, uncompressed), since prompts are in
any language. Never the key and never the account's email: the record is built
from an allow-list of fields.

The chunks are inserted right after ``IHDR`` by rewriting the file chunk by chunk
into a temporary file beside it: memory stays constant whatever the image's size,
and the pixel data (``IDAT``) is copied byte for byte, never decoded. Earlier
chunks with our keywords are dropped, so stamping twice leaves one record.
Anything that is not a well-formed PNG is left exactly as it was.
"""

from __future__ import annotations

import binascii
import contextlib
import functools
import json
import os
import re
import struct
import tempfile
import zlib
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MODEL = "gpt-image-2"
RECORD_KEY = "gptimg:record"
RECORD_FORMAT = "gptimg-provenance/1"
#: The keys a record may hold; everything else (an account, a key) can never be written.
RECORD_FIELDS = (
    "format", "prompt", "style", "size", "image_index", "image_count", "job_id",
    "model", "gateway", "created", "gptimg_version", "sandbox",
)
#: Text chunks larger than this are not ours and are not read (a hostile file cannot exhaust memory).
MAX_TEXT_BYTES = 1024 * 1024
_COPY_BLOCK = 1024 * 1024
_TEXT_TYPES = (b"tEXt", b"iTXt", b"zTXt")


def gateway_host(url: str | None) -> str:
    """The gateway's host (and port), never userinfo or a path."""
    if not url:
        return ""
    known = _GATEWAY_HOSTS.get(url)
    if known is not None:  # every image of a batch names the same gateway: parsed once
        return known
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    host = f"{host}:{parts.port}" if parts.port else host
    if len(_GATEWAY_HOSTS) < 64:
        _GATEWAY_HOSTS[url] = host
    return host


_GATEWAY_HOSTS: dict[str, str] = {}
#: The journal's own timestamps (``jobs.record._now``): already UTC, so the answer is their first 19 characters.
_UTC_STAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{3}|\.\d{6})?Z")


@functools.lru_cache(maxsize=16)
def _real_day(text: str) -> bool:
    """``YYYY-MM-DD`` names a day that exists (checked once per day seen)."""
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _utc_iso(stamp: str | None) -> str:
    """``stamp`` in UTC to the second, ``…Z``; now when there is none or it cannot be read."""
    if stamp and _UTC_STAMP.fullmatch(stamp) and _real_day(stamp[:10]) and stamp[11:13] < "24" \
            and stamp[14:16] < "60" and stamp[17:19] < "60":
        return stamp[:19] + "Z"  # a tenth of the parse-and-format below, once per saved image
    if stamp:
        with contextlib.suppress(ValueError):
            when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            return when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def build_record(
    *,
    prompt: str,
    style: str | None,
    size: str | None,
    image_index: int,
    image_count: int,
    job_id: str,
    gateway_url: str | None,
    created_at: str | None,
    sandbox: bool,
) -> dict[str, Any]:
    """The generation record of one image (only the fields in ``RECORD_FIELDS``)."""
    from gptimg import __version__

    return {
        "format": RECORD_FORMAT,
        "prompt": prompt,
        "style": style,
        "size": size,
        "image_index": image_index,
        "image_count": image_count,
        "job_id": job_id,
        "model": MODEL,
        "gateway": gateway_host(gateway_url),
        "created": _utc_iso(created_at),
        "gptimg_version": __version__,
        "sandbox": bool(sandbox),
    }


def text_fields(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(keyword, value) pairs in the order they are written."""
    fields = [
        ("Description", str(record.get("prompt") or "")),
        ("Software", f"gptimg {record.get('gptimg_version', '')}".strip()),
        ("Source", str(record.get("model") or MODEL)),
        ("Creation Time", str(record.get("created") or "")),
        ("gptimg:style", str(record.get("style") or "none")),
        ("gptimg:size", str(record.get("size") or "")),
        ("gptimg:image", f"{record.get('image_index')} of {record.get('image_count')}"),
        ("gptimg:job-id", str(record.get("job_id") or "")),
        ("gptimg:gateway", str(record.get("gateway") or "")),
        ("gptimg:sandbox", "yes" if record.get("sandbox") else "no"),
    ]
    clean = {key: record.get(key) for key in RECORD_FIELDS if key in record}
    fields.append((RECORD_KEY, json.dumps(clean, ensure_ascii=False, sort_keys=True)))
    return fields


OUR_KEYWORDS = frozenset(key for key, _ in text_fields({}))


def itxt_chunk(keyword: str, text: str) -> bytes:
    """One uncompressed iTXt chunk: keyword, flags, empty language tags, UTF-8 text, CRC."""
    # iTXt text may not hold NUL; a prompt never should, but a hostile one must not break the chunk.
    body = keyword.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.replace("\x00", "\ufffd").encode("utf-8")
    return _chunk(b"iTXt", body)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", binascii.crc32(kind + body) & 0xFFFFFFFF)


class NotPNG(ValueError):
    """The bytes are not a PNG this module can walk (truncated, or not a PNG at all)."""


def _read_exact(source: IO[bytes], count: int) -> bytes:
    data = source.read(count)
    if len(data) != count:
        raise NotPNG("truncated")
    return data


def _chunks(source: IO[bytes]) -> Iterator[tuple[bytes, int]]:
    """(type, length) of each chunk, the stream left at the start of its data; stops after IEND."""
    if source.read(8) != PNG_SIGNATURE:
        raise NotPNG("no PNG signature")
    while True:
        length, kind = struct.unpack(">I4s", _read_exact(source, 8))
        if length > 0x7FFFFFFF or not kind.isalpha():
            raise NotPNG("bad chunk header")
        yield kind, length
        if kind == b"IEND":
            return


def _copy(source: IO[bytes], sink: IO[bytes], count: int) -> None:
    while count > 0:
        block = _read_exact(source, min(count, _COPY_BLOCK))
        sink.write(block)
        count -= len(block)


def _keyword_of(source: IO[bytes], length: int) -> tuple[bytes, str]:
    """Read the start of a text chunk's data: (the bytes read, its keyword)."""
    head = _read_exact(source, min(length, 80))
    return head, head.split(b"\x00", 1)[0].decode("latin-1")


def _rewrite(source: IO[bytes], sink: IO[bytes], inserted: bytes) -> None:
    """Copy ``source`` to ``sink`` with ``inserted`` after IHDR and our older text chunks dropped."""
    sink.write(PNG_SIGNATURE)
    first = True
    for kind, length in _chunks(source):
        if first and kind != b"IHDR":
            raise NotPNG("IHDR is not the first chunk")
        header = struct.pack(">I", length) + kind
        head = b""
        if kind in _TEXT_TYPES:
            head, keyword = _keyword_of(source, length)
            if keyword in OUR_KEYWORDS:
                source.seek(length - len(head) + 4, os.SEEK_CUR)
                continue
        sink.write(header + head)
        _copy(source, sink, length - len(head) + 4)
        if first:
            sink.write(inserted)
            first = False


def text_chunks(record: dict[str, Any]) -> bytes:
    """The iTXt chunks ``stamp_png`` inserts after IHDR for ``record`` (``jobs.stampstream`` inserts them
    while a download streams, sparing a 128 MiB image a second copy and fsync)."""
    return b"".join(
        _same_for_every_job(key, value) if key in _FEW_VALUES else itxt_chunk(key, value)
        for key, value in text_fields(record)
    )


#: Fields that take a handful of values across a batch (version, model, style, size, gateway): their
#: chunks (an encode, two struct packs and a CRC each) are built once and reused.
_FEW_VALUES = frozenset({"Software", "Source", "gptimg:style", "gptimg:size", "gptimg:gateway", "gptimg:sandbox"})
_same_for_every_job = functools.lru_cache(maxsize=128)(lambda key, value: itxt_chunk(key, value))


def stamp_png(path: Path, record: dict[str, Any]) -> bool:
    """Write ``record`` into the PNG at ``path`` (atomically); False, file untouched, when it is not a PNG."""
    inserted = text_chunks(record)
    fd, temp_name = tempfile.mkstemp(prefix=".gptimg-stamp-", suffix=".part", dir=path.parent)
    try:
        with open(path, "rb") as source, os.fdopen(fd, "wb") as sink:
            try:
                _rewrite(source, sink, inserted)
            except NotPNG:
                return False
            sink.flush()
            os.fsync(sink.fileno())
        with contextlib.suppress(OSError):
            os.chmod(temp_name, os.stat(path).st_mode & 0o7777)
        os.replace(temp_name, path)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp_name)


def _decode_text(kind: bytes, data: bytes) -> tuple[str, str] | None:
    keyword, _, rest = data.partition(b"\x00")
    name = keyword.decode("latin-1")
    try:
        if kind == b"tEXt":
            return name, rest.decode("latin-1")
        if kind == b"zTXt":
            return name, _inflate(rest[1:]).decode("latin-1")
        compressed, _method, rest = rest[0], rest[1], rest[2:]
        _language, _, rest = rest.partition(b"\x00")
        _translated, _, text = rest.partition(b"\x00")
        return name, (_inflate(text) if compressed else text).decode("utf-8")
    except (IndexError, zlib.error, UnicodeDecodeError, NotPNG):
        return None


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, MAX_TEXT_BYTES)
    if inflater.unconsumed_tail:
        raise NotPNG("text chunk too large")
    return out


def read_png_text(path: Path) -> dict[str, str]:
    """Every text chunk's keyword and value (first wins); IDAT is skipped, never read."""
    found: dict[str, str] = {}
    with open(path, "rb") as source:
        for kind, length in _chunks(source):
            if kind in _TEXT_TYPES and length <= MAX_TEXT_BYTES:
                pair = _decode_text(kind, _read_exact(source, length))
                if pair is not None:
                    found.setdefault(*pair)
                source.seek(4, os.SEEK_CUR)
            else:
                source.seek(length + 4, os.SEEK_CUR)
    return found


def read_record(path: Path) -> dict[str, Any] | None:
    """The gptimg record in an image file, or None when it has none.

    PNG is read with the standard library; JPEG and WebP (converted copies) through
    Pillow's XMP, when Pillow is installed. Raises OSError for an unreadable file.
    """
    with open(path, "rb") as probe:
        head = probe.read(16)
    if head.startswith(PNG_SIGNATURE):
        try:
            raw = read_png_text(path).get(RECORD_KEY)
        except NotPNG:
            return None
    else:
        from gptimg.provenance_xmp import read_xmp_record

        raw = read_xmp_record(path)
    return _parse_record(raw)


def _parse_record(raw: str | None) -> dict[str, Any] | None:
    if not raw:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        return None
    return {key: record[key] for key in RECORD_FIELDS if key in record}


def is_sandbox_job(record: Any) -> bool:
    """True for a job made by a sandbox: the journal's ``sandbox`` flag when it has one, else a loopback gateway.

    The real gateway is never on this machine; a gateway on loopback is the
    sandbox (or a test double of the gateway), and its images are not real work.
    """
    flag = getattr(record, "sandbox", None)
    if flag is not None:
        return bool(flag)
    from gptimg.gateway.urls import is_loopback_host

    host = urlsplit(getattr(record, "gateway", "") or "").hostname
    return bool(host) and is_loopback_host(host or "")


def png_stamper(record: Any, job_id: str, count: int) -> Any:
    """``stamp(path, index)`` for ``save_job_images``: writes the record of image ``index`` of ``count``."""

    def record_of(index: int) -> dict[str, Any]:
        return build_record(
            prompt=record.prompt or "",
            style=record.style,
            size=record.size,
            image_index=index,
            image_count=count,
            job_id=job_id,
            gateway_url=record.gateway,
            created_at=record.created_at,
            sandbox=is_sandbox_job(record),
        )

    def stamp(path: Path, index: int) -> None:
        stamp_png(path, record_of(index))

    stamp.chunks = lambda index: text_chunks(record_of(index))  # type: ignore[attr-defined]
    return stamp
