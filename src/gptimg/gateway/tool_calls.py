"""The catalogue and ``POST /v1/call``: tool calls, the paid submit and the free long-poll.

The money rules live here: a submit is sent once unless the catalogue declares it
idempotent, and an answer that leaves its charge in doubt is ``SubmitOutcomeUnknown``.
"""

from __future__ import annotations

import time

from gptimg import errors
from gptimg.gateway.answers import ToolResult, flatten_mcp
from gptimg.gateway.errormap import CALL, POLL
from gptimg.gateway.exchange import GatewayExchange
from gptimg.image_tool import MAX_WAIT_SECONDS, RESULT_TOOL, SUBMIT_TOOL

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any

#: A submit answers at once with a job id; the reference client allows 60 s.
SUBMIT_TIMEOUT = 60.0
#: Added to ``wait_seconds`` for a result poll: the server holds the request that long first.
POLL_READ_MARGIN = 20.0
#: How long a poll may take past its caller's deadline: enough for one quick answer.
POLL_DEADLINE_GRACE = 5.0


class ToolCalls(GatewayExchange):
    """Catalogue reads and tool calls over the exchange core."""

    def search_tools(self, query: str, **filters: Any) -> Any:
        return self.get_json("/v1/tools", params={"q": query, **filters})

    def tool(self, slug: str) -> Any:
        """One catalogue entry, unwrapped from ``{"data": …, "error": null}`` when wrapped."""
        body = self.get_json(f"/v1/tools/{slug}")
        if isinstance(body, dict) and "data" in body and "error" in body:
            body = body["data"]
        if body is None:
            raise errors.ToolNotFound(f"Tool not found: {slug}")
        return body

    def _submit_entry(self) -> dict[str, Any] | None:
        """The submit tool's catalogue entry, read once per client (price and idempotency come from it)."""
        cache = self._submit_entry_cache
        if not cache:
            entry = self.tool(SUBMIT_TOOL)
            cache.append(entry if isinstance(entry, dict) else None)
        return cache[0]

    def submit_idempotency_field(self, *, fetch: bool = True) -> str | None:
        """The argument carrying an idempotency key, when the catalogue declares the submit idempotent.

        Only ``idempotency_mode`` ``native`` or ``gateway`` with an ``idempotency_key_field`` counts:
        then two submits with the same key are charged once, so a failed one may be sent again.
        With ``fetch=False`` only an entry already read (for the price, before the confirmation)
        is consulted, so a submit never costs an extra request.
        """
        if not fetch and not self._submit_entry_cache:
            return None
        try:
            entry = self._submit_entry()
        except errors.GptimgError:
            return None
        operation = entry.get("operation") if isinstance(entry, dict) else None
        if not isinstance(operation, dict) or operation.get("idempotency_mode") not in ("native", "gateway"):
            return None
        field = operation.get("idempotency_key_field")
        return field if isinstance(field, str) and field else None

    def submit_cost(self, default: int) -> int:
        """The submit tool's price from the catalogue; ``default`` when it cannot be read."""
        try:
            entry = self._submit_entry()
        except errors.GptimgError:
            return default
        pricing = entry.get("pricing") if isinstance(entry, dict) else None
        cost = pricing.get("cost") if isinstance(pricing, dict) else None
        if isinstance(cost, (int, float)) and not isinstance(cost, bool) and cost >= 0:
            return int(cost)
        return default

    # --- tool calls -------------------------------------------------------------------

    def call_tool(
        self,
        slug: str,
        arguments: dict[str, Any],
        *,
        timeout: float,
        retry: bool,
        view: bool = False,
        polled_job: str | None = None,
        deadline: float | None = None,
    ) -> ToolResult:
        """``POST /v1/call``. ``retry`` only for free calls; the submit tool is never retried.

        ``view`` asks the gateway for its compact ``view`` of the result (uno-cli's ``--view-only``).
        ``polled_job``: the call polls this job, so an answer that it is unknown raises ``JobNotFound``.
        """
        paid = slug == SUBMIT_TOOL
        if paid:
            retry = False

        def attempt() -> ToolResult:
            _, body, _ = self._exchange(
                "POST",
                "/v1/call",
                json_body={"tool": slug, "arguments": arguments, **({"view": True} if view else {})},
                auth=True,
                read_timeout=timeout,
                paid=paid,
                purpose=CALL if polled_job is None else POLL,
                job_id=polled_job,
                deadline=deadline,
            )
            if not isinstance(body, dict):
                failure_type = errors.SubmitOutcomeUnknown if paid else errors.InvalidResponse
                raise failure_type("/v1/call did not answer with an object.", body=body)
            meta = body.get("meta") if isinstance(body.get("meta"), dict) else {}
            if paid and not body:
                # An empty (or ``{}``) 200 to a submit says nothing about the charge.
                raise errors.SubmitOutcomeUnknown(f"{self._host} answered the submit with an empty body.", status=200)
            try:
                data = flatten_mcp(body["data"] if "data" in body else body,
                                   (self._api_key,) if self._api_key else ())
            except errors.GatewayError as exc:
                exc.details.setdefault("meta", meta)  # whether an MCP error result was charged
                raise
            return ToolResult(data=data, meta=meta, envelope=body)

        return self._retrying(attempt, retry=retry, deadline=deadline)

    def submit(self, arguments: dict[str, Any], *, idempotency_key: str | None = None) -> ToolResult:
        """Start a paid generation. Sent exactly once, unless the catalogue declares it idempotent.

        With ``idempotency_key`` and an idempotent catalogue entry, the key goes in the declared
        argument and a failed or doubtful submit is sent again with the same key (charged once).
        """
        field = self.submit_idempotency_field(fetch=False) if idempotency_key else None
        if field is None:
            return self.call_tool(SUBMIT_TOOL, arguments, timeout=SUBMIT_TIMEOUT, retry=False)
        keyed = {**arguments, field: idempotency_key}
        return self._retrying(
            lambda: self.call_tool(SUBMIT_TOOL, keyed, timeout=SUBMIT_TIMEOUT, retry=False),
            retry=True,
            also_retry=errors.SubmitOutcomeUnknown,
        )

    def poll_result(
        self, job_id: str, wait_seconds: float = MAX_WAIT_SECONDS, *, deadline: float | None = None
    ) -> ToolResult:
        """Free long-poll: the server holds it up to ``wait_seconds``; retried on hiccups.

        ``deadline`` (``time.monotonic``, the caller's ``--timeout``) bounds the whole call,
        retries and a slow body included, give or take ``POLL_DEADLINE_GRACE`` so that a
        deadline already reached (``--timeout 0``) still checks once.
        """
        if deadline is not None:
            deadline = max(deadline, time.monotonic()) + POLL_DEADLINE_GRACE
        wait = max(0, min(int(wait_seconds), MAX_WAIT_SECONDS))
        return self.call_tool(
            RESULT_TOOL,
            {"job_id": job_id, "wait_seconds": wait},
            timeout=wait + POLL_READ_MARGIN,
            retry=True,
            polled_job=job_id,
            deadline=deadline,
        )
