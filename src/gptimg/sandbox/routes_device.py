"""The RFC 8628 device-code login routes: the client's two OAuth endpoints and the browser's page.

Why together: the client side (``/oauth/device/code``, ``/oauth/token``) and the
browser side (``/device``, approve, deny) are two halves of one grant held in
the state; reading them side by side is how one checks the flow end to end.
The page's HTML lives in :mod:`device_page`; this module only routes.
"""

from __future__ import annotations

from . import device_page
from .failures import ApiFailure
from .handler_base import HandlerBase
from .state import TokenError

DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceFlowRoutes(HandlerBase):
    """``route_*`` methods for device-code login."""

    def route_device_code(self, path: str) -> None:
        fields = self._read_fields()
        grant = self.state.start_device(
            client_id=str(fields.get("client_id") or "uno-cli"), scope=str(fields.get("scope") or "")
        )
        verification_uri = f"{self.gateway.base_url}/device"
        self._send_json(200, {
            "device_code": grant.device_code,
            "user_code": grant.user_code,
            "verification_uri": verification_uri,
            "verification_uri_complete": f"{verification_uri}?code={grant.user_code}",
            "expires_in": self.gateway.config.expires_in,
            "interval": grant.interval,
        })

    def route_token(self, path: str) -> None:
        fields = self._read_fields()
        error_status = self.gateway.config.token_error_status
        if fields.get("grant_type") != DEVICE_GRANT_TYPE:
            self._send_json(error_status, {"error": "unsupported_grant_type",
                                           "error_description": f"grant_type must be {DEVICE_GRANT_TYPE}"})
            return
        try:
            key, grant = self.state.poll_token(str(fields.get("device_code") or ""))
        except TokenError as err:
            self._send_json(error_status, {"error": err.code, "error_description": err.description},
                            {"Cache-Control": "no-store"})
            return
        self._send_json(200, {"access_token": key, "token_type": "bearer", "scope": grant.scope},
                        {"Cache-Control": "no-store"})

    def route_device_page(self, path: str) -> None:
        code = self._query.get("code", "").strip()
        if not code:
            self._send_html(200, device_page.enter_code_page())
            return
        grant = self.state.grant_for_user_code(code)
        if grant is None:
            self._send_html(404, device_page.enter_code_page(f"Unknown code: {code}"))
            return
        self._send_html(200, device_page.authorise_page(grant.user_code, grant.scope, grant.client_id))

    def _decide(self, approve: bool) -> None:
        fields = self._read_fields()
        user_code = str(fields.get("user_code") or "")
        email = str(fields.get("email") or "") or None
        try:
            self.state.decide_device(user_code, approve=approve, email=email)
        except ApiFailure as failure:
            self._send_html(failure.status, device_page.outcome_page("Not recorded", failure.message))
            return
        if approve:
            self._send_html(200, device_page.outcome_page(
                "Authorised", "You can close this page and return to your terminal."))
        else:
            self._send_html(200, device_page.outcome_page("Denied", "The login request was denied."))

    def route_device_approve(self, path: str) -> None:
        self._decide(approve=True)

    def route_device_deny(self, path: str) -> None:
        self._decide(approve=False)
