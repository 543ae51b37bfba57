"""The agent CLI's commands. Each prints exactly one JSON document.

httpx is imported only by commands that use the network, so ``--version`` and
``call --dry-run`` start as fast as Python itself.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import contextmanager

from gptimg import errors
from gptimg.terminal import neutralise
from gptimg.unocli.call import cmd_call
from gptimg.unocli.compat import format_envelope_error, format_local_error
from gptimg.unocli.more import cmd_logs
from gptimg.unocli.output import Output, fail, fail_message, ok

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Callable, Optional

    from gptimg.credentials import CredentialStore
    from gptimg.gateway import GatewayClient

NOT_LOGGED_IN = "Not logged in. Run: python bin/uno.py login --start"


class Context:
    """What every command needs: the gateway URL, the credentials store, one client."""

    def __init__(self, base_url_flag: str | None) -> None:
        self._base_url_flag = base_url_flag
        self._store: CredentialStore | None = None
        self._client: GatewayClient | None = None

    @property
    def store(self) -> CredentialStore:
        """Opened on first use: ``call --dry-run`` and usage errors never read (or import) the store."""
        if self._store is None:
            from gptimg.credentials import CredentialStore

            self._store = CredentialStore()
        return self._store

    def client(self, api_key: str | None = None) -> GatewayClient:
        from gptimg.gateway import GatewayClient, resolve_base_url

        if self._client is None:
            self._client = GatewayClient(resolve_base_url(self._base_url_flag), short_lived=True)
        return self._client.with_key(api_key) if api_key else self._client

    def authed_client(self) -> GatewayClient:
        try:
            key = self.store.active_key(self.client().base_url).api_key
        except errors.NotLoggedIn:
            fail_message(NOT_LOGGED_IN, hint="Log in first: python bin/uno.py login --start", code="not_logged_in")
        Output.secrets.append(key)
        return self.client(key)

    def account_name(self) -> str | None:
        """Who the journal says submitted a job: the account's email or name, never its key."""
        try:
            active = self.store.active_key()
        except errors.GptimgError:
            return None
        if active.account:
            return str(active.account.get("email") or active.account.get("name") or "") or None
        return "UNO_API_KEY"

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def _warn(store: CredentialStore) -> None:
    for warning in store.warnings:
        print(f"warning: {neutralise(warning)}", file=sys.stderr)
    store.warnings.clear()


# --- account commands -------------------------------------------------------------------


#: uno-cli's words for the device flow's dead ends, so agents matching them keep working.
UNO_LOGIN_ERRORS = {
    "expired_token": "Device code expired. Please restart login.",
    "access_denied": "Authorization denied.",
    "login_timeout": "Authorization timeout",
}


class _AgentLoginFace:
    """``uno.py login`` in uno-cli's words: one JSON document on stdout, progress on stderr."""

    def __init__(self, store: CredentialStore) -> None:
        self.store = store

    def keep_secret(self, value: str) -> None:
        Output.secrets.append(value)

    def show_pending(self, grant: Any) -> None:
        Output.emit(
            grant.pending_payload(
                "Please have the user open the verification_uri_complete link in a browser to "
                "authorize, then run: python bin/uno.py login --poll DEVICE_CODE"
            )
        )

    def show_code(self, grant: Any) -> None:
        # The server's strings, shown without their control characters.
        link, code = neutralise(grant.verification_uri_complete, one_line=True), neutralise(grant.user_code, one_line=True)
        print(f"\nOpen this link to authorise:\n\n   {link}\n", file=sys.stderr)
        print(f"   Code: {code}   (valid for {grant.expires_in // 60} minutes)\n", file=sys.stderr)

    @contextmanager
    def waiting(self, expires_in: int, *, resumed: bool) -> Iterator[Optional[Callable[[], None]]]:
        """Silent for ``--poll`` (an agent's second step); dots for a person running the whole flow."""
        if resumed:
            yield None
            return
        print("Waiting for authorisation...", end="", file=sys.stderr, flush=True)
        yield lambda: print(".", end="", file=sys.stderr, flush=True)
        print(" authorised.", file=sys.stderr)

    def logged_in(self, stored: dict[str, Any]) -> None:
        _warn(self.store)
        Output.emit(
            {
                "success": True,
                "name": stored["name"],
                "email": stored["email"],
                "credential_stored_at": stored["credential_stored_at"],
                "credential_file_mode": stored["credential_file_mode"],
            }
        )


def cmd_login(ctx: Context, args: argparse.Namespace) -> None:
    from gptimg import auth

    try:
        # ``--key ""`` starts the device flow, as in uno-cli.
        auth.login(ctx.client(), ctx.store, _AgentLoginFace(ctx.store), key=args.key or None, start=args.start,
                   poll=args.poll)
    except errors.DeviceFlowError as exc:
        exc.message = UNO_LOGIN_ERRORS.get(exc.code, exc.message)
        raise


def cmd_logout(ctx: Context, args: argparse.Namespace) -> None:
    ctx.store.remove(everything=args.all)
    ok({"logged_out": True})


def cmd_use(ctx: Context, args: argparse.Namespace) -> None:
    if not args.account:
        accounts = ctx.store.accounts()
        _warn(ctx.store)
        ok(
            {
                "accounts": [
                    {"name": a.get("name", ""), "email": a.get("email", ""), "active": a.get("active", False)}
                    for a in accounts
                ]
            }
        )
        return
    if ctx.store.switch(args.account) is None:
        fail_message(f"Account not found: {args.account}", hint="List accounts with: python bin/uno.py use")
    ok({"switched_to": args.account})


def cmd_whoami(ctx: Context, args: argparse.Namespace) -> None:
    ok(ctx.authed_client().me())


# --- catalogue --------------------------------------------------------------------------


def cmd_search(ctx: Context, args: argparse.Namespace) -> None:
    if args.limit is not None and not 1 <= args.limit <= 50:
        fail_message("--limit must be between 1 and 50")
    filters = {"limit": args.limit, "mode": args.mode, "category": args.category, "server": args.server}
    ok(ctx.client().search_tools(args.query, **filters))


def cmd_tool(ctx: Context, args: argparse.Namespace) -> None:
    if getattr(args, "action", None) != "get":
        fail_message("Subcommand required. Usage: python bin/uno.py tool get <slug>")
    try:
        entry = ctx.client().tool(args.slug)
    except errors.GatewayError as exc:
        shaped = format_envelope_error(exc)
        if shaped is None:
            raise
        fail(shaped)
    ok(entry)


def cmd_health(ctx: Context, args: argparse.Namespace) -> None:
    ok(ctx.client().health())


HANDLERS = {
    "login": cmd_login,
    "logout": cmd_logout,
    "use": cmd_use,
    "whoami": cmd_whoami,
    "search": cmd_search,
    "tool": cmd_tool,
    "call": cmd_call,
    "health": cmd_health,
    "logs": cmd_logs,
}


def run(ctx: Context, args: argparse.Namespace) -> int:
    """Run one command; every failure becomes one JSON document and exit code 1."""
    from gptimg.unocli.output import Exit

    try:
        HANDLERS[args.command](ctx, args)
        return 0
    except Exit as done:
        return done.code
    except errors.GptimgError as exc:
        if ctx._store is not None:
            _warn(ctx._store)
        Output.emit(format_local_error(exc))
        return 1
    finally:
        ctx.close()
