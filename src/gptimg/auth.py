"""Getting a key: the RFC 8628 device flow, checking a key before it is stored, and the login flow.

The device flow is split in two (``start_device_flow`` / ``poll_device_flow``) so an
agent can show the code to its user between the steps. ``login`` is the one login
flow (``--key``, ``--start``, ``--poll`` or the whole device flow); each face
(the human CLI, the agent CLI) only renders it through a ``LoginFace``.
"""

from __future__ import annotations

import math
import os
import stat
import sys
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any, Callable, Optional, Protocol

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
DEFAULT_EXPIRES_IN = 1800
#: A server's interval and lifetime are clamped into these ranges: polling faster than once a
#: second hammers the server (RFC 8628 says 5 s), and no code should keep a login waiting past an hour.
MIN_INTERVAL, MAX_INTERVAL = 1, 60
MAX_EXPIRES_IN = 3600


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


def _clamped_seconds(value: Any, default: int, low: int, high: int) -> int:
    """A server's number of seconds within [low, high]; ``default`` when it is not a finite positive number."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        return default
    return int(min(max(value, low), high))


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
        expires_in=_clamped_seconds(body.get("expires_in"), DEFAULT_EXPIRES_IN, MIN_INTERVAL, MAX_EXPIRES_IN),
        interval=_clamped_seconds(body.get("interval"), DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL),
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
    interval = _clamped_seconds(interval, DEFAULT_INTERVAL, MIN_INTERVAL, MAX_INTERVAL)
    deadline = clock() + _clamped_seconds(expires_in, DEFAULT_POLL_DEADLINE, MIN_INTERVAL, MAX_EXPIRES_IN)
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


# --- the one login flow, rendered by each face ---------------------------------------------

#: ``login --key -`` reads the key from stdin, so it never shows in ``ps`` or the shell history.
KEY_FROM_STDIN = "-"
#: Longer than any key; a stray file piped in is refused rather than read whole.
MAX_KEY_CHARS = 4096

PendingCallback = Optional[Callable[[], None]]


class LoginFace(Protocol):
    """What a face shows during a login. Which step runs, and what is stored, is decided in ``login``."""

    def keep_secret(self, value: str) -> None:
        """Mask ``value`` in everything the face prints from now on."""

    def show_pending(self, grant: DeviceGrant) -> None:
        """``login --start``: hand the code over and stop."""

    def show_code(self, grant: DeviceGrant) -> None:
        """The interactive flow: show the code and the link (and maybe open a browser)."""

    def waiting(self, expires_in: int, *, resumed: bool) -> AbstractContextManager[PendingCallback]:
        """Around the approval wait; yields a callback run at each pending poll. ``resumed``: ``--poll``."""

    def logged_in(self, stored: dict[str, Any]) -> None:
        """Report the stored account (``stored_login_payload``)."""


def read_key(raw: str, stdin: IO[str] | None = None) -> str:
    """The key given to ``--key``: the value itself, or for ``-`` the first line of stdin."""
    if raw == KEY_FROM_STDIN:
        source = stdin if stdin is not None else sys.stdin
        if source is None or source.isatty():
            raise errors.UsageError(
                "--key - reads the key from stdin, but stdin is a terminal.",
                hint="Pipe it in: printf '%s' \"$KEY\" | gptimg login --key -",
            )
        raw = source.readline(MAX_KEY_CHARS + 1)
        if len(raw.strip()) > MAX_KEY_CHARS:
            raise errors.UsageError("The key on stdin is longer than any API key.")
        if not raw.strip():
            raise errors.UsageError("--key - found no key on stdin.", hint="Pipe the key in on one line.")
    key = raw.strip()
    if not key:
        raise errors.UsageError("--key is empty.")
    return key


def stored_login_payload(account: dict[str, Any], store: CredentialStore) -> dict[str, Any]:
    """Who logged in and where the key went (never the key), with the file's real mode.

    uno-cli prints ``"0600"`` as a literal; the store makes that true, and reading the
    mode back means a file system that ignored the chmod is reported, not papered over.
    """
    try:
        mode = f"{stat.S_IMODE(store.path.stat().st_mode):04o}"
    except OSError:
        mode = "unknown"
    return {
        "name": account.get("name", ""),
        "email": account.get("email", ""),
        "user_id": account.get("user_id", ""),
        "credential_stored_at": str(store.path),
        "credential_file_mode": mode,
    }


def login(
    client: GatewayClient,
    store: CredentialStore,
    face: LoginFace,
    *,
    key: str | None = None,
    start: bool = False,
    poll: str | None = None,
    stdin: IO[str] | None = None,
) -> None:
    """Log in by one of four routes; every key is checked with the gateway before it is stored."""
    if key is not None:
        new_key = read_key(key, stdin)
        face.keep_secret(new_key)
    elif poll is not None:
        face.keep_secret(poll)
        with face.waiting(DEFAULT_POLL_DEADLINE, resumed=True) as on_pending:
            new_key = poll_device_flow(client, poll.strip(), on_pending=on_pending)
        face.keep_secret(new_key)
    else:
        grant = start_device_flow(client)
        if start:
            face.show_pending(grant)
            return
        face.show_code(grant)
        with face.waiting(grant.expires_in, resumed=False) as on_pending:
            new_key = poll_device_flow(
                client, grant.device_code, interval=grant.interval, expires_in=grant.expires_in, on_pending=on_pending
            )
        face.keep_secret(new_key)
    account = store_verified_key(client, store, new_key)
    face.logged_in(stored_login_payload(account, store))
