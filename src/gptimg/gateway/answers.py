"""What a successful gateway call hands back: a ``ToolResult``, a ``DownloadInfo``, MCP content flattened.

Kept apart from ``client`` so the request policy and the shape of its answers can be read alone.
"""

from __future__ import annotations

import json

from gptimg import errors
from gptimg.records import Record

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any

# Records here are NamedTuples rather than dataclasses: this module is on the agent CLI's
# start-up path, and importing ``dataclasses`` (and ``inspect``) would cost ~18 ms a call.


class ToolResult(Record):
    """A successful ``/v1/call``: ``data`` already flattened from MCP content."""

    data: Any
    meta: dict[str, Any]
    #: The whole success envelope, for callers that mirror it (the agent CLI).
    envelope: dict[str, Any]

    @property
    def credits_used(self) -> int | float | None:
        value = self.meta.get("credits_used")
        return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


class DownloadInfo(Record):
    content_type: str
    size: int


def flatten_mcp(data: Any, secrets: tuple[str, ...] = ()) -> Any:
    """``{"content": [{"type": "text", "text": "<json>"}]}`` -> the parsed JSON.

    Some tools answer in MCP shape; callers should read ``data.status`` either way.
    Text that is not JSON stays text. An MCP ``isError`` result becomes an error.
    ``secrets`` are masked in the parsed text: escapes in the inner JSON (``\\u0075no_...``)
    only spell the key once it is parsed, after the outer answer was scrubbed.
    """
    if not isinstance(data, dict):
        return data
    content = data.get("content")
    if not isinstance(content, list) or not content or set(data) - {"content", "isError", "structuredContent"}:
        return data
    texts = [part.get("text") for part in content if isinstance(part, dict) and part.get("type") == "text"]
    if not texts or not all(isinstance(text, str) for text in texts):
        return data
    text = "".join(texts)
    if data.get("isError"):
        raise errors.GatewayError(text or "The tool reported an error.", code="tool_error", body=data)
    if isinstance(data.get("structuredContent"), (dict, list)):
        return data["structuredContent"]
    from gptimg.redaction import scrub_parsed

    try:
        return scrub_parsed(text, json.loads(text), secrets)  # and the depth: a nested answer is an answer too
    except (ValueError, RecursionError):  # not JSON, or nested too deep (TooDeep)
        return text
