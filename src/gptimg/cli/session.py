"""Per-invocation state shared by the human CLI's commands: output, credentials, one client, the journal.

Everything is built on first use, so ``gptimg styles`` touches neither the network
nor the disk.
"""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gptimg import errors
from gptimg.cli.output import Output
from gptimg.credentials import CredentialStore

if TYPE_CHECKING:
    from gptimg.gateway import GatewayClient
    from gptimg.jobs import JobJournal
    from gptimg.sandbox import SandboxGateway


#: ``--sandbox`` jobs finish after this many seconds unless ``GPTIMG_SANDBOX_DELAY`` says otherwise.
DEFAULT_SANDBOX_DELAY = 3.0


def sandbox_delay() -> float:
    """How long an embedded sandbox's jobs take: short for a demo, configurable for tests."""
    raw = os.environ.get("GPTIMG_SANDBOX_DELAY", "").strip()
    if not raw:
        return DEFAULT_SANDBOX_DELAY
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not (value >= 0 and math.isfinite(value)):
        raise errors.InvalidConfig(f"GPTIMG_SANDBOX_DELAY must be a number of seconds >= 0, not {raw!r}.")
    return value


class Session:
    """One command's output, credentials, client, journal and sandbox, each built on first use.

    A plain class, not a dataclass (its methods cost ~1 M instructions to build at every start).
    """

    def __init__(self) -> None:
        self.output = Output()
        self.base_url_flag: str | None = None
        self._store: CredentialStore | None = None
        self._client: GatewayClient | None = None
        self._journal: JobJournal | None = None
        self._sandbox: SandboxGateway | None = None
        self._sandbox_home: tempfile.TemporaryDirectory[str] | None = None
        self._warned = False

    # --- configuration ------------------------------------------------------------------

    @property
    def store(self) -> CredentialStore:
        if self._store is None:
            self._store = CredentialStore()
        return self._store

    def flush_warnings(self) -> None:
        if self._store is not None:
            for warning in self._store.warnings:
                self.output.warn(warning)
            self._store.warnings.clear()

    def base_url(self) -> str:
        if self._sandbox is not None:
            return self._sandbox.base_url
        from gptimg.gateway import base_url_warnings, resolve_base_url

        url = resolve_base_url(self.base_url_flag)
        if not self._warned:
            self._warned = True
            for warning in base_url_warnings(url):
                self.output.warn(warning)
        return url

    # --- the network ----------------------------------------------------------------------

    def public_client(self) -> GatewayClient:
        """The process's one client (one connection pool); carries no key."""
        if self._client is None:
            from gptimg.gateway import GatewayClient

            self._client = GatewayClient(self.base_url())
        return self._client

    def api_key(self) -> str:
        try:
            key = self.store.active_key(self.base_url()).api_key
        finally:
            self.flush_warnings()
        self.output.secrets.append(key)
        return key

    def client(self) -> GatewayClient:
        """The client speaking as the active account (``NotLoggedIn`` when there is none)."""
        return self.public_client().with_key(self.api_key())

    def account_label(self) -> str | None:
        """Who the journal says submitted a job: the account's email or name, never its key."""
        try:
            active = self.store.active_key(self.base_url())
        except errors.GptimgError:
            return None
        if active.account:
            return str(active.account.get("email") or active.account.get("name") or "") or None
        return "UNO_API_KEY"

    def journal(self, *, reading: bool = False) -> JobJournal:
        """The journal; ``reading`` (``gptimg jobs``) also accepts one a newer gptimg wrote, with a warning."""
        if self._journal is None:
            from gptimg.jobs import JobJournal

            self._journal = JobJournal(reading=reading)
            if self._journal.unknown_migrations:
                self.output.warn(
                    f"The job journal {self._journal.path} was written by a newer gptimg; "
                    "showing what this version understands. Upgrade gptimg: pip install -U gptimg"
                )
        return self._journal

    # --- the embedded sandbox ---------------------------------------------------------------

    def use_sandbox(self, **config: Any) -> SandboxGateway:
        """Start the sandbox in-process and log in to it with a throw-away credentials file.

        The real ``~/.uno`` is never read or written in this mode, and ``UNO_API_KEY``
        is ignored: the key is one the sandbox just issued.
        """
        from gptimg import auth
        from gptimg.sandbox import SandboxConfig, SandboxGateway

        sandbox = SandboxGateway(SandboxConfig(auto_approve=True, interval=1, **config))
        sandbox.start()
        self._sandbox = sandbox
        self._sandbox_home = tempfile.TemporaryDirectory(prefix="gptimg-sandbox-")
        self._store = CredentialStore(Path(self._sandbox_home.name) / "credentials.json", use_env=False)
        client = self.public_client()
        grant = auth.start_device_flow(client)
        key = auth.poll_device_flow(client, grant.device_code, interval=grant.interval, expires_in=grant.expires_in)
        self.output.secrets.append(key)
        auth.store_verified_key(client, self._store, key)
        return sandbox

    def close(self) -> None:
        """Release everything and forget it, so the next ``main()`` in this process starts afresh."""
        client, journal, sandbox, home = self._client, self._journal, self._sandbox, self._sandbox_home
        self._client = self._journal = self._sandbox = self._sandbox_home = self._store = None
        self.base_url_flag = None
        self._warned = False
        if client is not None:
            client.close()
        if journal is not None:
            journal.close()
        if sandbox is not None:
            sandbox.stop()
        if home is not None:
            home.cleanup()


#: The one session of this process (commands read it; ``main`` closes it). It lives here, not in
#: ``cli.app``, so a line read without Typer (``fast_generate``) shares it with every command.
session = Session()
