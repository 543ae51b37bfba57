"""What the sandbox models beyond jobs: usage records, both account shapes, MCP error results, idempotency.

Kept apart from ``server``/``state`` so the gateway's bookkeeping reads in one place:
- ``/v1/usage/history`` and ``/v1/usage/summary`` over a ledger of every ``/v1/call``;
- ``/v1/auth/me`` in the skill document's shape (``credits``) or the official SDK's
  (``plan``, ``free_credits_remaining``, ``balance``; ``--account-shape sdk``);
- a submit whose prompt holds ``[sandbox:tool-error]`` answers an MCP error result
  (``isError: true``), not charged;
- with ``--idempotent-submit`` the catalogue declares the submit idempotent
  (``idempotency_mode: gateway``); a repeated key returns the first job, charged once.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

TOOL_ERROR_TRIGGER = "[sandbox:tool-error]"
IDEMPOTENCY_KEY_FIELD = "idempotency_key"
#: In the SDK shape, the part of an account's credits shown as free credits; the rest is the balance.
FREE_ALLOWANCE = 500
ACCOUNT_SHAPES = ("credits", "sdk")


class UsageRecord(NamedTuple):
    account_id: str
    tool: str
    credits: int
    success: bool
    error_code: str | None
    latency_ms: int
    at: float


class Ledger:
    """Every call, per account; also the idempotency keys already paid for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[UsageRecord] = []
        self._keys: dict[tuple[str, str], str] = {}

    def record(self, account_id: str, tool: str, *, credits: int, success: bool, error_code: str | None,
               latency_ms: int) -> None:
        with self._lock:
            self._records.append(UsageRecord(account_id, tool, credits, success, error_code, latency_ms, time.time()))

    def job_for_key(self, account_id: str, key: str) -> str | None:
        with self._lock:
            return self._keys.get((account_id, key))

    def remember_key(self, account_id: str, key: str, job_id: str) -> None:
        with self._lock:
            self._keys[(account_id, key)] = job_id

    def _mine(self, account_id: str, days: float) -> list[UsageRecord]:
        since = time.time() - days * 86400
        with self._lock:
            return [r for r in self._records if r.account_id == account_id and r.at >= since]

    def history(self, account_id: str, query: dict[str, str]) -> dict[str, Any]:
        try:
            limit = max(1, min(int(query.get("limit", "20")), 500))
            days = max(1, min(int(query.get("days", "7")), 90))
        except ValueError:
            from .failures import invalid_arguments

            raise invalid_arguments("limit and days must be integers", "limit") from None
        rows = self._mine(account_id, days)
        if query.get("include_search") != "true":
            rows = [r for r in rows if r.tool != "search"]
        rows.reverse()  # newest first
        return {"records": [_public(r) for r in rows[:limit]], "total": len(rows)}

    def summary(self, account_id: str) -> dict[str, Any]:
        today = time.strftime("%Y-%m-%d", time.gmtime())

        def period(rows: list[UsageRecord]) -> dict[str, Any]:
            return {"calls": len(rows), "credits": sum(r.credits for r in rows)}

        week = self._mine(account_id, 7)
        trend: dict[str, list[UsageRecord]] = {}
        for row in week:
            trend.setdefault(time.strftime("%Y-%m-%d", time.gmtime(row.at)), []).append(row)
        return {
            "today": period([r for r in week if time.strftime("%Y-%m-%d", time.gmtime(r.at)) == today]),
            "last_7_days": period(week),
            "last_30_days": period(self._mine(account_id, 30)),
            "trend_7d": [{"date": day, **period(rows)} for day, rows in sorted(trend.items())],
        }


def _public(record: UsageRecord) -> dict[str, Any]:
    return {
        "tool": record.tool,
        "latency_ms": record.latency_ms,
        "credits": record.credits,
        "success": record.success,
        "error_code": record.error_code,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.at)),
    }


def ledger_of(gateway: Any) -> Ledger:
    """The gateway's one ledger, made on first use (no change to how a gateway is built)."""
    ledger = getattr(gateway, "_usage_ledger", None)
    if ledger is None:
        with gateway._lock:
            ledger = getattr(gateway, "_usage_ledger", None)
            if ledger is None:
                ledger = gateway._usage_ledger = Ledger()
    return ledger


def account_in_shape(described: dict[str, Any], shape: str) -> dict[str, Any]:
    """``/v1/auth/me`` in the configured shape; the same spendable total either way."""
    if shape != "sdk":
        return described
    out = {key: value for key, value in described.items() if key != "credits"}
    total = int(described.get("credits", 0))
    free = min(total, FREE_ALLOWANCE)
    out.update({"free_credits_remaining": free, "balance": float(total - free), "keys": []})
    return out


def tool_error_result(meta: dict[str, Any]) -> dict[str, Any]:
    """An MCP error result for the submit, as some upstream tools answer: nothing was charged."""
    text = "Sandbox: the tool refused this prompt ([sandbox:tool-error])."
    return {"data": {"content": [{"type": "text", "text": text}], "isError": True},
            "meta": {**meta, "credits_used": 0, "charged": False, "outcome": "executed"}}


def idempotent_operation() -> dict[str, Any]:
    return {"type": "write", "idempotency_mode": "gateway", "idempotency_key_field": IDEMPOTENCY_KEY_FIELD}
