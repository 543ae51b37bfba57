"""The agent CLI's commands. Each prints exactly one JSON document.

httpx is imported only by commands that use the network, so ``--version`` and
``call --dry-run`` start as fast as Python itself.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Optional

from gptimg import errors
from gptimg.credentials import CredentialStore
from gptimg.styles import MAX_ARGUMENTS_CHARS, RESULT_TOOL, SUBMIT_TOOL
from gptimg.terminal import neutralise
from gptimg.unocli.compat import format_call_error, format_envelope_error, format_local_error
from gptimg.unocli.output import Output, fail, fail_message, ok

if TYPE_CHECKING:
    from gptimg.gateway import GatewayClient

ALLOWED_TOOLS_ENV = "UNO_ALLOWED_TOOLS"
DEFAULT_ALLOWED_TOOLS = "gpt-image-2.*"
#: uno-cli refuses raw ``--args`` beyond this before looking inside (data URIs can be large).
MAX_RAW_ARGS_CHARS = 32 * 1024 * 1024
REFERENCE_FIELDS = ("reference_image_urls", "reference_image_url", "image_url", "image_urls")
NOT_LOGGED_IN = "Not logged in. Run: python bin/uno.py login --start"
DRY_RUN_NOTE = (
    "No network request was made, no credentials were read, and no credits were spent. "
    "Re-run without --dry-run to actually invoke the tool."
)


def _one_shot_wire() -> Any:
    """The standard library's HTTP for a process that makes one or two requests.

    Importing httpx would cost more than the call itself; behind a proxy the
    httpx wire (which reads the proxy settings) is used instead.
    """
    if any(os.environ.get(name) for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
                                             "ALL_PROXY", "all_proxy")):
        return None
    from gptimg.gateway.client import user_agent
    from gptimg.gateway.stdlib_wire import StdlibWire

    return StdlibWire(user_agent())


class Context:
    """What every command needs: the gateway URL, the credentials store, one client."""

    def __init__(self, base_url_flag: str | None) -> None:
        self._base_url_flag = base_url_flag
        self.store = CredentialStore()
        self._client: GatewayClient | None = None

    def client(self, api_key: str | None = None) -> GatewayClient:
        from gptimg.gateway import GatewayClient, resolve_base_url

        if self._client is None:
            self._client = GatewayClient(resolve_base_url(self._base_url_flag), wire=_one_shot_wire())
        return self._client.with_key(api_key) if api_key else self._client

    def authed_client(self) -> GatewayClient:
        try:
            key = self.store.active_key(self.client().base_url).api_key
        except errors.NotLoggedIn:
            fail_message(NOT_LOGGED_IN, hint="Log in first: python bin/uno.py login --start", code="not_logged_in")
        Output.secrets.append(key)
        return self.client(key)

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


# --- call -------------------------------------------------------------------------------


def allowed_patterns() -> list[str]:
    raw = os.environ.get(ALLOWED_TOOLS_ENV)
    if raw is None:
        raw = DEFAULT_ALLOWED_TOOLS
    return [p.strip() for p in raw.split(",") if p.strip()]


def _parse_arguments(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    raw = raw.replace("\x00", "")
    if len(raw) > MAX_RAW_ARGS_CHARS:
        fail_message("Arguments too large to upload", hint="Keep --args under 100 KB; pass images as files.")
    try:
        arguments = json.loads(raw)
    except json.JSONDecodeError as exc:
        fail_message(
            f"Invalid JSON in --args: {exc}",
            hint='--args takes a JSON object, e.g. \'{"prompt": "a red fox"}\'',
            code="bad_input",
        )
    if not isinstance(arguments, dict):
        fail_message(
            "--args must be a JSON object, e.g. '{\"key\": \"value\"}'",
            hint='--args takes a JSON object, e.g. \'{"prompt": "a red fox"}\'',
            code="bad_input",
        )
    return arguments


def _check_size(arguments: dict[str, Any]) -> None:
    """100 KB once serialised, counting each inline image as the short URL it will become."""
    sized = dict(arguments)
    for name in REFERENCE_FIELDS:
        value = sized.get(name)
        if isinstance(value, str) and "data:" in value:
            from gptimg.references import split_reference_list  # only when there is an inline image

            sized[name] = ",".join("x" * 100 if p.startswith("data:") else p for p in split_reference_list(value))
    if len(json.dumps(sized, ensure_ascii=False)) > MAX_ARGUMENTS_CHARS:
        fail_message("Arguments too large (max 100KB)", hint="Shorten the prompt or pass fewer inline images.")


def _reference_plan(arguments: dict[str, Any]) -> dict[str, list[Any]]:
    """Check every reference of a submit locally (existence, type, size) before anything is sent."""
    plan: dict[str, list[Any]] = {}
    if not any(arguments.get(name) for name in REFERENCE_FIELDS):
        return plan
    from gptimg.references import check_references, split_reference_list

    for name in REFERENCE_FIELDS:
        value = arguments.get(name)
        if isinstance(value, str) and value.strip():
            plan[name] = check_references(split_reference_list(value), strict=False)
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            plan[name] = check_references(value, strict=False)
    return plan


def _check_scope(slug: str) -> None:
    """``UNO_ALLOWED_TOOLS``: a slug outside it is refused before anything is read or sent."""
    patterns = allowed_patterns()
    if patterns and not any(fnmatch.fnmatchcase(slug, p) for p in patterns):
        raise errors.ToolNotAllowed(
            f"{slug} is outside this client's scope ({', '.join(patterns)}).",
            details={"tool": slug, "allowed": patterns},
        )


def cmd_call(ctx: Context, args: argparse.Namespace) -> None:
    slug = args.tool
    _check_scope(slug)
    arguments = _parse_arguments(args.args)
    timeout = args.timeout or 60
    if args.dry_run:
        Output.emit(
            {
                "success": True,
                "dry_run": True,
                "preview": {"tool": slug, "arguments": arguments, "timeout_seconds": timeout},
                "note": DRY_RUN_NOTE,
            }
        )
        return

    plan: dict[str, list[Any]] = {}
    if slug == SUBMIT_TOOL:
        from gptimg.params import check_submit_arguments

        check_submit_arguments(arguments)
        plan = _reference_plan(arguments)
    _check_size(arguments)

    client = ctx.authed_client()
    if plan:
        from gptimg.references import upload_references

        for name, refs in plan.items():
            joined = upload_references(refs, client.upload)
            arguments[name] = joined if isinstance(arguments[name], str) else joined.split(",")
    retry = slug == RESULT_TOOL
    if retry:
        wait = arguments.get("wait_seconds")
        if isinstance(wait, (int, float)) and not isinstance(wait, bool):
            timeout = max(timeout, int(wait) + 5)
    try:
        result = client.call_tool(slug, arguments, timeout=timeout, retry=retry, view=args.view_only)
    except errors.GptimgError as exc:
        # Any answer with a body (InvalidApiKey on a 401 too) gets uno-cli's call-failure shape.
        if getattr(exc, "body", None) is None:
            raise
        fail(format_call_error(exc))
    out: dict[str, Any] = {"success": True}
    has_view = isinstance(result.envelope.get("view"), dict)
    if has_view:
        out["view"] = result.envelope["view"]
    if not (args.view_only and has_view):
        out["data"] = result.data
    if "meta" in result.envelope:
        out["meta"] = result.envelope["meta"]
    Output.emit(out)


HANDLERS = {
    "login": cmd_login,
    "logout": cmd_logout,
    "use": cmd_use,
    "whoami": cmd_whoami,
    "search": cmd_search,
    "tool": cmd_tool,
    "call": cmd_call,
    "health": cmd_health,
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
        _warn(ctx.store)
        Output.emit(format_local_error(exc))
        return 1
    finally:
        ctx.close()
