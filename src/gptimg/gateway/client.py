"""``GatewayClient``: every request gptimg makes to the Uno gateway, and the policy around it.

The client owns policy: which origin may see the key, timeouts per kind of call,
which calls are retried, how answers are parsed and errors typed. It never
prints, prompts or reads the credentials file: it is handed a key.

One client per process: its connection pool serves every poll and download.
It is assembled from one layer per job, each on the same exchange core:
``exchange`` (one request, its retries, the key's origin), ``tool_calls``
(catalogue, submit, poll) and ``transfers`` (upload, download); the account
reads are here.
"""

from __future__ import annotations

from gptimg import errors
from gptimg.gateway.tool_calls import ToolCalls
from gptimg.gateway.transfers import FileTransfers

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any


class GatewayClient(ToolCalls, FileTransfers):
    """Talks to one gateway origin with one (optional) key."""

    def __repr__(self) -> str:  # never the key
        return f"GatewayClient({self.base_url!r}, authenticated={self._api_key is not None})"

    def with_key(self, api_key: str) -> GatewayClient:
        """A client for the same gateway and pool, speaking as another key."""
        clone = GatewayClient.__new__(GatewayClient)
        clone.__dict__.update(self.__dict__)
        clone._api_key = api_key
        return clone

    def __enter__(self) -> GatewayClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- account reads -----------------------------------------------------------------

    def me(self) -> dict[str, Any]:
        body = self.get_json("/v1/auth/me", auth=True)
        if not isinstance(body, dict):
            raise errors.InvalidResponse("/v1/auth/me did not answer with an object.", body=body)
        return body

    def usage_history(self, *, limit: int, days: int = 7, include_search: bool = False) -> Any:
        """``GET /v1/usage/history``: the account's recent calls and what each was charged."""
        params: dict[str, Any] = {"limit": limit, "days": days}
        if include_search:
            params["include_search"] = "true"
        return self.get_json("/v1/usage/history", params=params, auth=True)

    def usage_summary(self) -> Any:
        """``GET /v1/usage/summary``: calls and credits for today, 7 and 30 days."""
        return self.get_json("/v1/usage/summary", auth=True)

    def health(self) -> Any:
        return self.get_json("/health")
