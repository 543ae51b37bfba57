"""Argument checks for the two gpt-image-2 tools, matching the ranges the catalogue documents.

The sandbox is stricter than necessary on types (``n`` must be a real integer,
not ``true`` or ``"2"``) so that client bugs surface here rather than against
the paid gateway.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from gptimg import image_tool, styles

from .failures import invalid_arguments

FILE_ID_RE = re.compile(r"f_[0-9a-fA-F]{16,64}")
_SUBMIT_FIELDS = frozenset({"prompt", "size", "n", "style", "reference_image_urls"})
_RESULT_FIELDS = frozenset({"job_id", "wait_seconds"})


@dataclass(frozen=True)
class SubmitArguments:
    """A submit request that passed validation."""

    prompt: str
    size: str = image_tool.DEFAULT_SIZE
    n: int = 1
    style: str | None = None
    reference_image_urls: tuple[str, ...] = ()


def _reject_unknown(arguments: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise invalid_arguments(
            f"unknown argument(s): {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}", unknown[0]
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_reference(ref: str) -> None:
    if FILE_ID_RE.fullmatch(ref):
        return
    parts = urlsplit(ref)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise invalid_arguments(
            f"reference_image_urls: {ref[:80]!r} is neither an http(s) URL nor an uploaded file id (f_...)",
            "reference_image_urls",
        )


def validate_submit(arguments: Any) -> SubmitArguments:
    """Check submit arguments; ``null`` for an optional field means "use the default"."""
    if not isinstance(arguments, dict):
        raise invalid_arguments("arguments must be a JSON object")
    _reject_unknown(arguments, _SUBMIT_FIELDS)

    prompt = arguments.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid_arguments("prompt is required and must be a non-empty string", "prompt")

    size = arguments.get("size")
    if size is None:
        size = image_tool.DEFAULT_SIZE
    if not isinstance(size, str) or size not in image_tool.SIZES:
        raise invalid_arguments(f"size must be one of {', '.join(image_tool.SIZES)}", "size")

    n = arguments.get("n")
    if n is None:
        n = 1
    if not _is_int(n) or not image_tool.MIN_IMAGES <= n <= image_tool.MAX_IMAGES:
        raise invalid_arguments(
            f"n must be an integer from {image_tool.MIN_IMAGES} to {image_tool.MAX_IMAGES}", "n"
        )

    style = arguments.get("style")
    if style is not None and (not isinstance(style, str) or style not in styles.STYLES):
        raise invalid_arguments("style must be one of the 20 preset keys", "style")

    refs_raw = arguments.get("reference_image_urls")
    refs: tuple[str, ...] = ()
    if refs_raw is not None:
        if not isinstance(refs_raw, str):
            raise invalid_arguments(
                "reference_image_urls must be a string of comma-separated URLs", "reference_image_urls"
            )
        refs = tuple(part.strip() for part in refs_raw.split(",") if part.strip())
        for ref in refs:
            _check_reference(ref)

    return SubmitArguments(prompt=prompt, size=size, n=n, style=style, reference_image_urls=refs)


def validate_result(arguments: Any) -> tuple[str, float]:
    """Job id and the server-side wait, clamped to 0..MAX_WAIT_SECONDS like the real tool."""
    if not isinstance(arguments, dict):
        raise invalid_arguments("arguments must be a JSON object")
    _reject_unknown(arguments, _RESULT_FIELDS)
    job_id = arguments.get("job_id")
    if not isinstance(job_id, str) or not job_id.strip():
        raise invalid_arguments("job_id is required and must be a non-empty string", "job_id")
    wait = arguments.get("wait_seconds")
    if wait is None:
        wait = 0
    if isinstance(wait, bool) or not isinstance(wait, (int, float)) or wait != wait:
        raise invalid_arguments("wait_seconds must be a number of seconds", "wait_seconds")
    return job_id.strip(), float(min(max(wait, 0), image_tool.MAX_WAIT_SECONDS))
