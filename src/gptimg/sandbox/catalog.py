"""The sandbox's tool catalogue: the two gpt-image-2 tools, described like the real gateway does.

Clients read prices and argument ranges from here (``pricing.cost``,
``input_schema``) rather than hard-coding them, so the entries are complete
and built from :mod:`gptimg.image_tool` and :mod:`gptimg.styles`, the project's single
copy of those facts.
"""

from __future__ import annotations

import copy
from typing import Any

from gptimg import image_tool, styles

SERVER = "gpt-image-2"
CATEGORY = "image"

_SUBMIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {
            "type": "string",
            "minLength": 1,
            "description": "What to draw, in any language; passed to the model verbatim.",
        },
        "size": {
            "type": "string",
            "enum": list(image_tool.SIZES),
            "default": image_tool.DEFAULT_SIZE,
            "description": "Image dimensions; auto lets the model choose.",
        },
        "n": {
            "type": "integer",
            "minimum": image_tool.MIN_IMAGES,
            "maximum": image_tool.MAX_IMAGES,
            "default": 1,
            "description": "Number of images in the job.",
        },
        "style": {
            "type": "string",
            "enum": list(styles.STYLES),
            "description": "A built-in style preset.",
        },
        "reference_image_urls": {
            "type": "string",
            "description": "Reference images for image-to-image: URLs or uploaded file ids, comma-separated.",
        },
    },
    "required": ["prompt"],
    "additionalProperties": False,
}

_RESULT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "job_id": {"type": "string", "minLength": 1, "description": "The job_id returned by submit."},
        "wait_seconds": {
            "type": "integer",
            "minimum": 0,
            "maximum": image_tool.MAX_WAIT_SECONDS,
            "default": 0,
            "description": "Hold the request up to this long; answers as soon as the job ends.",
        },
    },
    "required": ["job_id"],
    "additionalProperties": False,
}

_TOOLS: list[dict[str, Any]] = [
    {
        "tool": image_tool.SUBMIT_TOOL,
        "name": "gpt_image2_submit",
        "desc": (
            "GPT Image 2: submit an image generation job (text-to-image or image-to-image with "
            "reference images, 20 style presets). Returns a job_id at once; poll gpt_image2_result."
        ),
        "input_schema": _SUBMIT_SCHEMA,
        "server": SERVER,
        "category": CATEGORY,
        "auth_required": False,
        "pricing": {"mode": "per_call", "cost": image_tool.DEFAULT_SUBMIT_COST},
        "operation": {"type": "write", "idempotency_mode": "none"},
        "stats": {"calls_7d": 0, "success_rate": 1.0, "avg_latency_ms": 120},
    },
    {
        "tool": image_tool.RESULT_TOOL,
        "name": "gpt_image2_result",
        "desc": (
            "GPT Image 2: poll an image generation job; with wait_seconds the server holds the "
            "request until the job ends. Returns status and image URLs when done. Free."
        ),
        "input_schema": _RESULT_SCHEMA,
        "server": SERVER,
        "category": CATEGORY,
        "auth_required": False,
        "pricing": {"mode": "per_call", "cost": 0},
        "operation": {"type": "read", "idempotency_mode": "idempotent"},
        "stats": {"calls_7d": 0, "success_rate": 1.0, "avg_latency_ms": 50},
    },
]


def get_tool(slug: str) -> dict[str, Any] | None:
    """A deep copy, so a handler can never edit the catalogue by accident."""
    for tool in _TOOLS:
        if tool["tool"] == slug:
            return copy.deepcopy(tool)
    return None


def has_tool(slug: str) -> bool:
    """Whether ``slug`` is in the catalogue; no copy (``get_tool``'s deep copy was ~9% of a
    batch's sandbox CPU when ``/v1/call`` used it only to check the name)."""
    return any(tool["tool"] == slug for tool in _TOOLS)


def tool_cost(slug: str) -> int:
    """Credits one call of ``slug`` costs (0 for unknown slugs)."""
    for tool in _TOOLS:
        if tool["tool"] == slug:
            return int(tool["pricing"]["cost"])
    return 0


def search_tools(
    query: str = "", *, limit: int = 10, category: str | None = None, server: str | None = None
) -> list[dict[str, Any]]:
    """Keyword search: a tool matches when any query word occurs in its slug, name, desc, server or category.

    The real gateway also offers semantic modes; with two tools, keyword
    matching gives the same answers, so ``mode`` is accepted and ignored.
    """
    words = [w for w in query.lower().replace(",", " ").split() if w]
    found: list[dict[str, Any]] = []
    for tool in _TOOLS:
        if category and tool["category"] != category:
            continue
        if server and tool["server"] != server:
            continue
        haystack = " ".join(
            str(tool[k]) for k in ("tool", "name", "desc", "server", "category")
        ).lower()
        if words and not any(w in haystack for w in words):
            continue
        found.append(copy.deepcopy(tool))
    return found[:limit]
