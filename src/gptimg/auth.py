"""Getting a key: the RFC 8628 device flow, and checking a key before it is stored.

The flow is split in two (``start_device_flow`` / ``poll_device_flow``) so an
agent can show the code to its user between the steps; the human CLI runs both
with a spinner in between.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

from gptimg import errors
from gptimg.credentials import CredentialStore
from gptimg.gateway import GatewayClient

CLIENT_ID = "uno-cli"
DEFAULT_SCOPE = "mcp:gpt-image-2"
DEVICE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"
DEFAULT_INTERVAL = 5
SLOW_DOWN_STEP = 5
#: When a poll is started without the grant (``login --poll CODE``), stop after this long.
DEFAULT_POLL_DEADLINE = 30 * 60


def oauth_scope() -> str:
    return os.environ.get("UNO_OAUTH_SCOPE", "").strip() or DEFAULT_SCOPE


@dataclass(frozen=True)
class DeviceGrant:
    """What ``POST /oauth/device/code`` gave us: the code to show and the code to poll with."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str
    expires_in: int
    interval: int
    scope: str

    def pending_payload(self, message: str) -> dict[str, Any]:
        """The ``login --start`` answer both CLIs print, in uno-cli's shape and order."""
        return {
            "status": "pending",
            "device_code": self.device_code,
            "user_code": self.user_code,
            "verification_uri": self.verification_uri,
            "verification_uri_complete": self.verification_uri_complete,
            "expires_in": self.expires_in,
            "interval": self.interval,
            "scope": self.scope,
            "message": message,
        }


def _positive_int(value: Any, default: int) -> int:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return int(value)
    return default


def start_device_flow(client: GatewayClient, scope: str | None = None) -> DeviceGrant:
    scope = scope or oauth_scope()
    status, body = client.oauth_post("/oauth/device/code", {"client_id": CLIENT_ID, "scope": scope})
    if status >= 400 or not isinstance(body, dict) or body.get("error") or not body.get("device_code"):
        detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
        raise errors.DeviceFlowError(
            f"The gateway did not start a login: {detail or f'HTTP {status}'}",
            hint="Try again in a moment; check --base-url / UNO_API_URL.",
        )
    user_code = str(body.get("user_code", ""))
    uri = str(body.get("verification_uri", ""))
    complete = body.get("verification_uri_complete")
    if not isinstance(complete, str) or not complete:
        complete = f"{uri}?code={user_code}" if uri else ""
    return DeviceGrant(
        device_code=str(body["device_code"]),
        user_code=user_code,
        verification_uri=uri,
        verification_uri_complete=complete,
        expires_in=_positive_int(body.get("expires_in"), 1800),
        interval=_positive_int(body.get("interval"), DEFAULT_INTERVAL),
        scope=scope,
    )


def poll_device_flow(
    client: GatewayClient,
    device_code: str,
    *,
    interval: int = DEFAULT_INTERVAL,
    expires_in: int = DEFAULT_POLL_DEADLINE,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    on_pending: Callable[[], None] | None = None,
) -> str:
    """Poll ``/oauth/token`` until the user decides; return the new key.

    Pending answers come as 200 (the official gateway) or 400 (RFC 8628): both are
    read by their ``error`` field. ``slow_down`` adds 5 s to the interval for good.
    """
    deadline = clock() + expires_in
    payload = {"grant_type": DEVICE_GRANT_TYPE, "device_code": device_code, "client_id": CLIENT_ID}
    while True:
        status, body = client.oauth_post("/oauth/token", payload)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(body, dict) and not error and isinstance(body.get("access_token"), str) and body["access_token"]:
            return body["access_token"]
        if error == "slow_down":
            interval += SLOW_DOWN_STEP
        elif error == "expired_token":
            raise errors.DeviceCodeExpired("The login code expired before it was approved.")
        elif error == "access_denied":
            raise errors.AccessDenied("Authorisation was denied.")
        elif error != "authorization_pending":
            detail = error or f"HTTP {status} without a key"
            raise errors.DeviceFlowError(f"Login failed: {detail}", hint="Start the login again.")
        if clock() + interval > deadline:
            raise errors.LoginTimeout("The login code ran out of time while waiting for approval.")
        if on_pending is not None:
            on_pending()
        sleep(interval)


def verify_key(client: GatewayClient, api_key: str) -> dict[str, Any]:
    """Ask ``/v1/auth/me`` who this key is; a refused key raises ``InvalidApiKey``."""
    me = client.with_key(api_key).me()
    if not (me.get("email") or me.get("name")):
        raise errors.InvalidApiKey("The gateway accepted the key but named no user.")
    return me


def store_verified_key(
    client: GatewayClient, store: CredentialStore, api_key: str, *, me: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Verify (unless ``me`` is given) and save as the active account; returns the account without its key."""
    me = me if me is not None else verify_key(client, api_key)
    return store.save_account(
        api_key, str(me.get("name") or ""), str(me.get("email") or ""), str(me.get("id") or ""),
        gateway=client.base_url, sandbox=bool(client.is_sandbox or me.get("sandbox") is True),
    )
