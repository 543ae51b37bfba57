"""The gateway's failure envelope, as an exception the request handler turns into a response.

State and validation code raise :class:`ApiFailure` with the status and code
the real gateway would use; only the server module knows how to write it.
"""

from __future__ import annotations

from typing import Any


class ApiFailure(Exception):
    """A failure answer: ``{"error": code, "message": ..., "meta": {...}, **extra}`` with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        meta: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.meta = dict(meta or {})
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"error": self.code, "message": self.message}
        out.update(self.extra)
        out["meta"] = self.meta
        return out


def invalid_arguments(message: str, field: str | None = None) -> ApiFailure:
    """400 ``invalid_arguments``; ``fields`` names the culprit so clients can point at it."""
    extra = {"fields": [field]} if field else None
    return ApiFailure(400, "invalid_arguments", message, meta={"credits_used": 0, "charged": False}, extra=extra)
