"""The provenance record in JPEG and WebP files: XMP (and EXIF) through Pillow.

JPEG and WebP have no PNG-style text chunks; the formats' own places for this
are XMP and EXIF. The converter (PNG to JPEG/WebP, Pillow) calls
:func:`save_options_from_png` (or :func:`pillow_save_options` with a record) and
passes the result to ``Image.save``:

* XMP ``dc:description`` holds the prompt and ``xmp:CreatorTool`` the program,
  which exiftool, ImageMagick and photo managers show; ``gptimg:record`` holds
  the same JSON record as the PNG's ``gptimg:record`` chunk.
* EXIF ``Software`` (``gptimg 0.1.0``) and ``ImageDescription`` (the prompt, when
  it is ASCII: EXIF strings are ASCII by definition), for viewers that read
  only EXIF.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Any

from gptimg.provenance import RECORD_FIELDS, RECORD_KEY

NAMESPACE = "urn:gptimg:provenance:1"
_EXIF_IMAGE_DESCRIPTION = 0x010E
_EXIF_SOFTWARE = 0x0131
_RECORD_ATTRIBUTE = re.compile(r'gptimg:record="([^"]*)"')


def xmp_packet(record: dict[str, Any]) -> bytes:
    """An XMP packet holding the record; every value is XML-escaped."""
    clean = {key: record.get(key) for key in RECORD_FIELDS if key in record}
    e = html.escape
    prompt = str(clean.get("prompt") or "")
    tool = f"gptimg {clean.get('gptimg_version', '')}".strip()
    packet = (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
        '<x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:xmp="http://ns.adobe.com/xap/1.0/"'
        f' xmlns:gptimg="{NAMESPACE}"'
        f' xmp:CreatorTool="{e(tool)}" xmp:CreateDate="{e(str(clean.get("created") or ""))}"'
        f' gptimg:record="{e(json.dumps(clean, ensure_ascii=False, sort_keys=True))}">'
        f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{e(prompt)}</rdf:li></rdf:Alt></dc:description>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
        '<?xpacket end="w"?>'
    )
    return packet.encode("utf-8")


def pillow_save_options(record: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for Pillow's ``Image.save`` (JPEG or WebP) that carry the record."""
    from PIL import Image

    exif = Image.Exif()
    exif[_EXIF_SOFTWARE] = f"gptimg {record.get('gptimg_version', '')}".strip()
    prompt = str(record.get("prompt") or "")
    if prompt.isascii() and prompt.isprintable():
        exif[_EXIF_IMAGE_DESCRIPTION] = prompt
    return {"exif": exif.tobytes(), "xmp": xmp_packet(record)}


def save_options_from_png(png: Path) -> dict[str, Any]:
    """``Image.save`` options carrying the record of the PNG being converted ({} when it has none).

    For the converter: ``image.save(target, "JPEG", quality=90, **save_options_from_png(source))``.
    """
    from gptimg.provenance import read_record

    record = read_record(png)
    return pillow_save_options(record) if record else {}


def record_from_xmp(xmp: bytes | str | None) -> str | None:
    """The JSON text of ``gptimg:record`` in an XMP packet, or None."""
    if not xmp:
        return None
    text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else xmp
    if NAMESPACE not in text:
        return None
    match = _RECORD_ATTRIBUTE.search(text)
    return html.unescape(match.group(1)) if match else None


def read_xmp_record(path: Path) -> str | None:
    """The record's JSON text from a JPEG or WebP file (None without Pillow or without a record)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return None
    try:
        with Image.open(path) as image:
            return record_from_xmp(image.info.get("xmp"))
    except (UnidentifiedImageError, ValueError, OSError):
        return None


__all__ = ["NAMESPACE", "RECORD_KEY", "pillow_save_options", "read_xmp_record", "record_from_xmp",
           "save_options_from_png", "xmp_packet"]
