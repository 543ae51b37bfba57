"""What a tool call answers: JSON a model can read, the saved images as links, small ones inline.

Every answer goes through :func:`strip_secrets` with the session's key, so a
gateway that echoes the key back cannot make it reach the client. Failures are
MCP tool errors (``isError``) carrying the CLIs' envelope: the same ``error``
code, ``message`` and ``hint``, plus the exit code the CLI would have used.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ContentBlock, ImageContent, ResourceLink, TextContent

from gptimg import errors
from gptimg.imagetypes import SNIFF_BYTES, sniff_image_type
from gptimg.redaction import strip_secrets

if TYPE_CHECKING:
    from gptimg.jobs.pipeline import JobOutcome

#: Images up to this size are also sent inline (base64 grows them by a third); larger ones only as links.
DEFAULT_INLINE_MAX_BYTES = 768 * 1024


def _json_block(data: dict[str, Any], secrets: Sequence[str]) -> TextContent:
    text = json.dumps(strip_secrets(data, secrets), ensure_ascii=False, indent=2, default=str)
    return TextContent(type="text", text=text)


def data_result(data: dict[str, Any], secrets: Sequence[str]) -> CallToolResult:
    """A successful answer: the JSON as text (what every client shows) and as structured content."""
    clean = strip_secrets(data, secrets)
    return CallToolResult(content=[_json_block(clean, ())], structured_content=clean)


def error_result(exc: errors.GptimgError, secrets: Sequence[str]) -> CallToolResult:
    """The CLIs' failure envelope as an MCP tool error."""
    envelope = exc.to_dict()
    envelope["exit_code"] = exc.exit_code
    clean = strip_secrets(envelope, secrets)
    return CallToolResult(content=[_json_block(clean, ())], structured_content=clean, is_error=True)


def unexpected_result(exc: BaseException) -> CallToolResult:
    """A bug, not a gateway answer: its class only (a message could carry anything), and no traceback."""
    envelope = {
        "success": False,
        "error": "internal_error",
        "message": f"gptimg hit an unexpected {type(exc).__name__}.",
        "hint": "Any paid job is in the journal: call list_jobs, then get_job to finish it.",
        "exit_code": errors.EXIT_FAILURE,
    }
    return CallToolResult(content=[_json_block(envelope, ())], structured_content=envelope, is_error=True)


def _mime_type(head: bytes) -> str:
    return sniff_image_type(head[:SNIFF_BYTES]) or "application/octet-stream"


def image_blocks(paths: Sequence[Path], inline_max_bytes: int) -> list[ContentBlock]:
    """Each saved image as a ``file://`` resource link, and inline as well when it is small."""
    blocks: list[ContentBlock] = []
    for path in paths:
        try:
            size = path.stat().st_size
            head = path.read_bytes() if size <= inline_max_bytes else path.open("rb").read(64)
        except OSError:
            continue  # reported in the JSON; a link to a missing file would mislead
        mime = _mime_type(head)
        blocks.append(
            ResourceLink(type="resource_link", name=path.name, uri=path.resolve().as_uri(), mime_type=mime, size=size)
        )
        if size <= inline_max_bytes and mime.startswith("image/"):
            blocks.append(ImageContent(type="image", data=base64.b64encode(head).decode("ascii"), mime_type=mime))
    return blocks


def outcome_data(outcome: JobOutcome, credits_used: float | None) -> dict[str, Any]:
    """The JSON of a finished job: where each image is, which job, what it cost."""
    return {
        "job_id": outcome.job_id,
        "status": outcome.status,
        "saved": [str(image.path) for image in outcome.images],
        "items": [
            {"url": image.url, "path": str(image.path), "downloaded": image.downloaded} for image in outcome.images
        ],
        "credits_used": whole(credits_used),
    }


def outcome_result(
    outcome: JobOutcome, *, extra: dict[str, Any], inline_max_bytes: int, secrets: Sequence[str]
) -> CallToolResult:
    data = {**outcome_data(outcome, extra.pop("credits_used", outcome.credits_used)), **extra}
    clean = strip_secrets(data, secrets)
    content: list[ContentBlock] = [_json_block(clean, ())]
    content += image_blocks([image.path for image in outcome.images], inline_max_bytes)
    return CallToolResult(content=content, structured_content=clean)


def whole(value: Any) -> Any:
    """Credits read back from the journal's REAL column: ``300.0`` is shown as ``300``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
