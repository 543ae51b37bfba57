"""``gptimg login | logout | accounts | use | whoami``: who the gateway thinks we are.

Accounts live in the credentials file gptimg shares with uno-cli
(``~/.uno/credentials.json``); ``UNO_API_KEY`` beats it. No command here ever
prints a key: each one is added to the output's secrets the moment we hold it,
and only names, emails and the file's location are shown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable, Optional

import typer

from gptimg import errors
from gptimg.cli.app import app, session
from gptimg.credentials import ENV_API_KEY


class _HumanLoginFace:
    """``gptimg login`` rendered for a person (or, with --json, one envelope); the flow is ``auth.login``."""

    def __init__(self, *, no_browser: bool) -> None:
        self.no_browser = no_browser

    def keep_secret(self, value: str) -> None:
        session.output.secrets.append(value)

    def show_pending(self, grant: Any) -> None:
        data = grant.pending_payload(
            "Have the user open verification_uri_complete and approve the code, "
            "then run: gptimg login --poll DEVICE_CODE"
        )

        def human() -> None:
            _show_code(grant, opened=False, why_not=None)
            session.output.out.print(f"gptimg login --poll {grant.device_code}")
            session.output.info("[dim]Run the command above once the code is approved.[/]")

        session.output.success(data, human=human)

    def show_code(self, grant: Any) -> None:
        from gptimg.cli import browser

        why_not = "--no-browser" if self.no_browser else browser.why_not_open() or browser.why_not_url(
            grant.verification_uri_complete
        )
        opened = False
        if why_not is None:
            opened = browser.open_url(grant.verification_uri_complete)
            if not opened:
                why_not = "the browser did not start"
        _show_code(grant, opened=opened, why_not=why_not)

    @contextmanager
    def waiting(self, expires_in: int, *, resumed: bool) -> Iterator[Optional[Callable[[], None]]]:
        """A spinner with the code's time left on a terminal; one plain line elsewhere."""
        err = session.output.err
        if not err.is_terminal or err.is_dumb_terminal:
            session.output.info("Waiting for approval in the browser...")
            yield None
            return
        deadline = time.monotonic() + expires_in

        def text() -> str:
            left = max(0, int(deadline - time.monotonic()))
            return f"Waiting for approval in the browser (code valid {left // 60}:{left % 60:02d} more; Ctrl-C to stop)"

        with err.status(text(), spinner="dots") as status:
            yield lambda: status.update(text())

    def logged_in(self, stored: dict[str, Any]) -> None:
        session.flush_warnings()

        def human() -> None:
            who = stored["name"] or stored["email"]
            email = f" <{stored['email']}>" if stored["email"] and stored["email"] != who else ""
            session.output.info(f"[green]✓[/] Logged in as [bold]{_escape(who)}[/]{_escape(email)}.")
            where = _escape(stored["credential_stored_at"])
            session.output.info(f"[dim]Key stored in {where} (mode {stored['credential_file_mode']}).[/]")
            if os.environ.get(ENV_API_KEY, "").strip():
                session.output.warn(f"{ENV_API_KEY} is set and is used instead of the stored key.")

        session.output.success(stored, human=human)


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _show_code(grant: Any, *, opened: bool, why_not: str | None) -> None:
    """The ``gh auth login`` moment: the code big, the link plain enough to click or copy."""
    from rich.panel import Panel
    from rich.text import Text

    err = session.output.err
    code = Text(grant.user_code, style="bold", justify="center")
    err.print(Panel(code, title="Your one-time code", expand=False, padding=(1, 6)))
    err.print(f"Open [link={grant.verification_uri_complete}]{_escape(grant.verification_uri_complete)}[/link]")
    err.print(f"and check that it shows the code above. It is valid for {grant.expires_in // 60} minutes.")
    if opened:
        err.print("[dim]Opened it in your browser.[/]")
    elif why_not:
        err.print(f"[dim]Not opening a browser ({why_not}); open the link on any device.[/]")


@app.command("login")
def login(
    key: Optional[str] = typer.Option(
        None, "--key", metavar="KEY", help="Store this API key (checked first); - reads it from stdin."
    ),
    start: bool = typer.Option(False, "--start", help="Only start a device login: print the code and exit."),
    poll: Optional[str] = typer.Option(
        None, "--poll", metavar="DEVICE_CODE", help="Finish a login begun with --start."
    ),
    no_browser: bool = typer.Option(False, "--no-browser", help="Do not open a browser; just show the link."),
) -> None:
    """Log in to the gateway: a device code approved in the browser, or --key (--key - reads stdin)."""
    from gptimg import auth

    if sum(bool(x) for x in (key, start, poll)) > 1:
        raise errors.UsageError("Use only one of --key, --start and --poll.", hint="See: gptimg login --help")
    if key is None and poll is None and not start and not _confirm_relogin():
        return
    auth.login(
        session.public_client(), session.store, _HumanLoginFace(no_browser=no_browser), key=key, start=start, poll=poll
    )


def _confirm_relogin() -> bool:
    """Logging in while logged in: say who you are, and ask (a terminal) before starting another login."""
    from gptimg.cli.confirm import ask_yes_no

    try:
        current = session.store.active_account(session.base_url())
    except errors.GptimgError:
        return True
    if current is None or session.output.json_mode:
        return True
    session.output.info(f"You are logged in as [bold]{_escape(_label(current))}[/] on {_escape(session.base_url())}.")
    if not _stdin_is_terminal():
        return True
    if ask_yes_no(session.output, "Log in again (with this or another account)?"):
        return True
    session.output.info("Still logged in as before; nothing changed.")
    return False


def _stdin_is_terminal() -> bool:
    import sys

    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


@app.command("logout")
def logout(all_accounts: bool = typer.Option(False, "--all", help="Forget every stored account.")) -> None:
    """Forget this gateway's active account (or all of them) on this machine."""
    gateway = session.base_url()
    forgotten = session.store.accounts() if all_accounts else [session.store.active_account(gateway)]
    forgotten = [a for a in forgotten if a]
    removed = session.store.remove(everything=all_accounts, gateway=gateway)
    session.flush_warnings()
    remaining = session.store.active_account(gateway)
    data = {
        "removed": removed,
        "forgotten": [_public(a) for a in forgotten][:removed],
        "active": _public(remaining) if remaining else None,
    }

    def human() -> None:
        if removed == 0:
            session.output.info("No stored account to forget.")
        else:
            names = ", ".join(_label(a) for a in forgotten[:removed])
            session.output.info(f"Forgot {_escape(names)}; its key is no longer on this machine."
                                if removed == 1 else f"Forgot {removed} accounts: {_escape(names)}.")
        if remaining:
            session.output.info(f"Active now: {_escape(_label(remaining))}")
        if os.environ.get(ENV_API_KEY, "").strip():
            session.output.warn(f"{ENV_API_KEY} is still set, so commands keep using that key.")

    session.output.success(data, human=human)


def _public(account: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": account.get("name", ""),
        "email": account.get("email", ""),
        "user_id": account.get("user_id", ""),
    }


def _label(account: dict[str, Any]) -> str:
    name, email = str(account.get("name") or ""), str(account.get("email") or "")  # any JSON value, as text
    return f"{name} <{email}>" if name and email and name != email else (name or email or "(unnamed)")


@app.command("accounts")
def accounts() -> None:
    """List the stored accounts; the active one is marked."""
    stored = session.store.accounts()
    session.flush_warnings()
    active = session.store.active_account()
    rows = [{**_public(a), "active": a == active} for a in stored]

    def human() -> None:
        if not rows:
            session.output.info("No stored accounts. Log in with: gptimg login")
            return
        from rich.table import Table

        table = Table(box=None, pad_edge=False, header_style="bold")
        table.add_column("")
        table.add_column("name")
        table.add_column("email")
        for row in rows:
            # Stored by any tool: a name may be a list or hold markup; shown as plain text either way.
            table.add_row("*" if row["active"] else "", _escape(str(row.get("name") or "")),
                          _escape(str(row.get("email") or "")))
        session.output.out.print(table)
        if os.environ.get(ENV_API_KEY, "").strip():
            session.output.warn(f"{ENV_API_KEY} is set: it is used instead of the active account.")

    session.output.success(rows, human=human)


@app.command("use")
def use(account: str = typer.Argument(..., metavar="ACCOUNT", help="Name or email of a stored account.")) -> None:
    """Make another stored account the active one."""
    switched = session.store.switch(account)
    session.flush_warnings()
    if switched is None:
        raise errors.BadInput(
            f"No stored account is named {account!r}.", code="account_not_found", hint="See them with: gptimg accounts"
        )
    data = _public(switched)
    session.output.success(data, human=lambda: session.output.info(f"Active account: {_escape(_label(switched))}"))


@app.command("whoami")
def whoami() -> None:
    """Show the account in use: name, email and credits."""
    me = session.client().me()
    source = "env" if os.environ.get(ENV_API_KEY, "").strip() else "file"
    data = dict(me)
    data.setdefault("credits", None)

    def human() -> None:
        from rich.table import Table

        table = Table(show_header=False, box=None, pad_edge=False)
        table.add_column(style="bold")
        table.add_column()
        table.add_row("name", _escape(str(me.get("name") or "")))
        table.add_row("email", _escape(str(me.get("email") or "")))
        from gptimg.balance import balance_rows

        for label, value in balance_rows(me):
            table.add_row(label, value)
        if me.get("plan"):
            table.add_row("plan", _escape(str(me["plan"])))
        table.add_row("gateway", _escape(session.base_url()))
        if source == "env":
            table.add_row("key from", ENV_API_KEY)
        session.output.out.print(table)

    session.output.success(data, meta={"gateway": session.base_url(), "key_source": source}, human=human)
