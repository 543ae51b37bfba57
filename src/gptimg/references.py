"""Reference images for image-to-image: local files and data URIs become uploaded URLs.

Everything that can be checked without the network is checked first (the file
exists, is an image by its bytes, is at most 8 MiB), so a bad reference never
costs credits. Uploading happens only after that, through a callable the
caller provides (the gateway client's ``upload``).
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Callable, NamedTuple

from gptimg.errors import InvalidArguments
from gptimg.imagetypes import SNIFF_BYTES, TYPE_FOR_EXTENSION, sniff_image_type

MAX_REFERENCE_BYTES = 8 * 1024 * 1024
FILE_ID = re.compile(r"f_[0-9A-Za-z_-]{4,64}")
_NEXT_ITEM = ("http://", "https://", "data:")

Uploader = Callable[[bytes, str], str]


class Reference(NamedTuple):
    """One checked reference: either a locator to pass on as is, or bytes still to upload."""

    original: str
    locator: str | None = None
    data: bytes | None = None
    media_type: str | None = None

    @property
    def needs_upload(self) -> bool:
        return self.locator is None


def split_reference_list(raw: str) -> list[str]:
    """Split the comma-separated field without cutting a data URI at its own comma."""
    parts: list[str] = []
    pending = ""
    for piece in raw.split(","):
        if pending:
            # A base64 payload never holds a comma: once it has begun, the next comma ends the URI.
            base64_done = "," in pending and ";base64" in pending.split(",", 1)[0].lower()
            if base64_done or piece.strip().startswith(_NEXT_ITEM):
                parts.append(pending.strip())
                pending = ""
            else:
                pending += "," + piece
                continue
        if piece.strip().startswith("data:"):
            pending = piece.strip()
        elif piece.strip():
            parts.append(piece.strip())
    if pending:
        parts.append(pending.strip())
    return parts


def _bad(message: str, hint: str = "References must be image files (PNG, JPEG, WebP, GIF) or http(s) URLs.") -> InvalidArguments:
    return InvalidArguments(message, hint=hint)


def _checked_image(data: bytes, where: str) -> str:
    if not data:
        raise _bad(f"Reference image {where} is empty.")
    if len(data) > MAX_REFERENCE_BYTES:
        raise _bad(f"Reference image {where} is over 8 MiB.", hint="Shrink or re-encode it to at most 8 MiB.")
    media = sniff_image_type(data[:SNIFF_BYTES])
    if media is None:
        raise _bad(f"Reference {where} is not a PNG, JPEG, WebP or GIF image.")
    return media


def check_reference(value: str, *, strict: bool) -> Reference:
    """Classify and validate one reference without touching the network.

    ``strict`` (the human CLI) accepts only http(s) URLs, file ids, data URIs and
    existing image files. Otherwise (the agent CLI) an unrecognised string is
    passed on as it is, as uno-cli does, unless it clearly names a local file.
    """
    value = value.strip()
    if value.startswith(("http://", "https://")):
        if "," in value:
            raise _bad(f"A reference URL may not contain a comma: {value}")
        return Reference(value, locator=value)
    if FILE_ID.fullmatch(value):
        return Reference(value, locator=value)
    if value.startswith("data:"):
        header, _, payload = value.partition(",")
        media = header[5:].split(";", 1)[0].strip().lower()
        if ";base64" not in header.lower() or media not in TYPE_FOR_EXTENSION.values():
            raise _bad("A data URI reference must be data:image/(png|jpeg|webp|gif);base64,...")
        try:
            data = base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise _bad("The data URI reference is not valid base64.") from None
        return Reference("data URI", data=data, media_type=_checked_image(data, "(data URI)"))
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", value):
        raise _bad(f"Only http(s) reference URLs are accepted, not {value.split(':', 1)[0]}:")
    path = os.path.expanduser(value)
    ext = os.path.splitext(path)[1].lower()
    looks_local = strict or ext in TYPE_FOR_EXTENSION or "/" in value or "\\" in value or value.startswith("~")
    if not looks_local:
        return Reference(value, locator=value)
    if not os.path.isfile(path):
        raise _bad(f"Reference image not found: {value}", hint="Check the path; nothing was sent or spent.")
    size = os.path.getsize(path)
    if size > MAX_REFERENCE_BYTES:
        raise _bad(f"Reference image {value} is over 8 MiB.", hint="Shrink or re-encode it to at most 8 MiB.")
    with open(path, "rb") as handle:
        data = handle.read()
    return Reference(value, data=data, media_type=_checked_image(data, value))


def check_references(values: list[str], *, strict: bool) -> list[Reference]:
    return [check_reference(v, strict=strict) for v in values if v.strip()]


def upload_references(references: list[Reference], upload: Uploader) -> str:
    """Upload what needs it and return the comma-separated field value."""
    locators: list[str] = []
    for ref in references:
        if ref.needs_upload:
            assert ref.data is not None and ref.media_type is not None
            locator = upload(ref.data, ref.media_type)
            if not locator or "," in locator:
                raise InvalidArguments("The upload returned a locator with a comma; it cannot be used.")
            locators.append(locator)
        else:
            assert ref.locator is not None
            locators.append(ref.locator)
    return ",".join(locators)
