"""The tool routes: the catalogue (``/v1/tools``) and ``/v1/call``, where credits are spent.

Why apart: this is the money path of the fake gateway — the submit charges,
replays an idempotency key without a second charge, and the result long-poll
holds the request until the job ends (or injects the 429/502 faults that
``--fail-rate`` asks for). Every call lands in the usage ledger, failed ones too.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gptimg import image_tool

from . import accounting, catalog
from .failures import ApiFailure, invalid_arguments
from .handler_base import HandlerBase
from .state import Job
from .validation import validate_result, validate_submit


class ToolRoutes(HandlerBase):
    """``route_*`` methods for the tool catalogue and tool calls."""

    def route_tools(self, path: str) -> None:
        try:
            limit = int(self._query.get("limit", "10"))
        except ValueError:
            raise invalid_arguments("limit must be an integer from 1 to 50", "limit") from None
        if not 1 <= limit <= 50:
            raise invalid_arguments("limit must be an integer from 1 to 50", "limit")
        tools = catalog.search_tools(
            self._query.get("q", ""), limit=limit,
            category=self._query.get("category") or None, server=self._query.get("server") or None,
        )
        tools = [self._declared(tool) for tool in tools]
        self._send_json(200, {"tools": tools, "total": len(tools)})

    def route_tool(self, path: str) -> None:
        slug = path[len("/v1/tools/"):]
        tool = catalog.get_tool(slug)
        if tool is None:
            raise ApiFailure(404, "tool_not_found", f"Tool not found: {slug}")
        # The real gateway sometimes wraps this answer; doing it always keeps clients honest.
        self._send_json(200, {"data": self._declared(tool), "error": None})

    def _declared(self, tool: dict[str, Any]) -> dict[str, Any]:
        """The catalogue entry, with the submit declared idempotent under ``--idempotent-submit``."""
        if self.gateway.config.idempotent_submit and tool.get("tool") == image_tool.SUBMIT_TOOL:
            tool["operation"] = accounting.idempotent_operation()
        return tool

    def route_call(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        fields = self._read_fields()
        tool = fields.get("tool")
        arguments = fields.get("arguments", {})
        if not isinstance(tool, str) or not catalog.has_tool(tool):
            raise ApiFailure(404, "tool_not_found", f"Tool not found: {tool}", meta={"credits_used": 0})
        if len(json.dumps(arguments, ensure_ascii=False)) > image_tool.MAX_ARGUMENTS_CHARS:
            raise invalid_arguments("arguments exceed 100 KB once serialised")
        ledger = accounting.ledger_of(self.gateway)
        try:
            charged = self._call_submit(account, arguments) if tool == image_tool.SUBMIT_TOOL else 0
            if tool != image_tool.SUBMIT_TOOL:
                self._call_result(account, arguments)
        except ApiFailure as failure:
            ledger.record(account.id, tool, credits=0, success=False, error_code=failure.code,
                          latency_ms=self._latency_ms())
            raise
        ledger.record(account.id, tool, credits=max(charged, 0), success=charged >= 0,
                      error_code="tool_error" if charged < 0 else None, latency_ms=self._latency_ms())

    def _call_submit(self, account: Any, arguments: Any) -> int:
        """Credits charged; -1 for an MCP error result (recorded as a failed call)."""
        key = None
        if self.gateway.config.idempotent_submit and isinstance(arguments, dict):
            arguments = dict(arguments)
            key = arguments.pop(accounting.IDEMPOTENCY_KEY_FIELD, None)
        args = validate_submit(arguments)
        if accounting.TOOL_ERROR_TRIGGER in args.prompt:
            self._send_json(200, accounting.tool_error_result(self._meta(0)))
            return -1
        ledger = accounting.ledger_of(self.gateway)
        known = ledger.job_for_key(account.id, str(key)) if key else None
        repeated = self.state.job_for(account, known) if known else None
        if repeated is not None:  # the same key again: the first job, not a second charge
            data = {"status": "pending", "job_id": repeated.job_id, "estimated_seconds": 1}
            self._send_json(200, {"data": data, "meta": self._meta(0, charged=False, idempotent_replay=True)})
            return 0
        job = self.state.submit(account, args, recharge_url=f"{self.gateway.base_url}/pricing")
        if key:
            ledger.remember_key(account.id, str(key), job.job_id)
        # No pre-rendering thread: an image costs microseconds to draw at download time (see
        # images.py), less than starting a thread per submit did (~4% of the sandbox's samples).
        cost = catalog.tool_cost(image_tool.SUBMIT_TOOL)
        data = {"status": "pending", "job_id": job.job_id, "estimated_seconds": max(1, math.ceil(job.delay))}
        self._send_json(200, {"data": data, "meta": self._meta(
            cost, charged=True, credits_remaining=self.state.credits_of(account))})
        return cost

    def _call_result(self, account: Any, arguments: Any) -> None:
        job_id, wait_seconds = validate_result(arguments)
        injected = self.state.draw_poll_failure()
        if injected == "429":
            retry = self.gateway.config.retry_after
            raise ApiFailure(429, "rate_limit_exceeded", "Sandbox: injected rate limit (--fail-rate).",
                             meta={"retry_after_seconds": retry, "credits_used": 0},
                             headers={"Retry-After": str(retry)})
        if injected == "502":
            raise ApiFailure(502, "upstream_error", "Sandbox: injected upstream failure (--fail-rate).",
                             meta={"credits_used": 0, "charged": False})
        job = self.state.job_for(account, job_id)
        status = self.state.wait_for_job(job, wait_seconds)
        payload = self._job_payload(job, status)
        # MCP-style answer, as the real gateway gives for some tools: clients must flatten it.
        data = {"content": [{"type": "text", "text": json.dumps(payload, ensure_ascii=False)}]}
        self._send_json(200, {"data": data, "meta": self._meta(0)})

    def _job_payload(self, job: Job, status: str) -> dict[str, Any]:
        payload: dict[str, Any] = {"status": status, "job_id": job.job_id}
        if status == "done":
            base = self.gateway.image_base_url
            payload["items"] = [{"url": f"{base}/cdn/{job.job_id}/{i}.png"} for i in range(job.args.n)]
        elif status == "error":
            payload["error"] = "Sandbox: generation failed because the prompt asked for it ([sandbox:fail])."
        return payload

