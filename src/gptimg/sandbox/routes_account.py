"""The account routes: who am I, usage, health, the pricing page, and the test-only ``/_sandbox/`` ones.

Why apart: these answer questions about an account or the sandbox itself and
never spend credits; the ``/_sandbox/`` introspection routes (stats, making an
account) exist for tests and are not counted as gateway requests.
"""

from __future__ import annotations

from . import accounting, device_page
from .failures import ApiFailure
from .handler_base import HandlerBase


class AccountRoutes(HandlerBase):
    """``route_*`` methods for account, usage and sandbox introspection."""

    def route_health(self, path: str) -> None:
        self._send_json(200, {"status": "ok", "sandbox": True})

    def route_pricing(self, path: str) -> None:
        self._send_html(200, device_page.outcome_page(
            "Recharge", "The sandbox cannot sell credits. Restart it with --credits N for a bigger balance."))

    def route_me(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        described = {**self.state.describe_account(account), "sandbox": True}
        self._send_json(200, accounting.account_in_shape(described, self.gateway.config.account_shape))

    def route_usage_history(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        self._send_json(200, accounting.ledger_of(self.gateway).history(account.id, self._query))

    def route_usage_summary(self, path: str) -> None:
        account = self.state.account_for_key(self._api_key())
        self._send_json(200, accounting.ledger_of(self.gateway).summary(account.id))

    def route_stats(self, path: str) -> None:
        self._send_json(200, self.state.stats())

    def route_create_account(self, path: str) -> None:
        fields = self._read_fields()
        email = fields.get("email")
        name = fields.get("name") or (email.split("@")[0] if isinstance(email, str) else None)
        credits = fields.get("credits")
        if not isinstance(email, str) or "@" not in email or not isinstance(name, str):
            raise ApiFailure(400, "invalid_request", "email (and optionally name, credits) required.")
        if credits is not None and (isinstance(credits, bool) or not isinstance(credits, int) or credits < 0):
            raise ApiFailure(400, "invalid_request", "credits must be a non-negative integer.")
        self._send_json(200, {"api_key": self.state.create_account(name, email, credits)})
