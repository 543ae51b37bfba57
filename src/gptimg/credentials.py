"""``~/.uno/credentials.json``: the account store gptimg shares with uno-cli.

The format is uno-cli's (a JSON list of accounts, or one legacy object), so each
tool can use what the other wrote, and fields we do not know are kept as they are.
Where uno-cli is careless we are not:

* writes are atomic (temp file in the same directory, fsync, rename) and the file
  is 0600 from its first byte, whatever the umask; the directory is 0700;
* read-modify-write happens under a file lock, so two logins at once lose nothing;
* a damaged file is never read as "no accounts" and overwritten: it is reported
  with its path, and backed up before anything replaces it;
* a symlinked ``~/.uno`` or ``credentials.json`` (dotfiles kept elsewhere) is followed
  for reading and writing, and stays a link; permissions are only ever changed on
  ``~/.uno`` itself and the files in it, never on a link's target elsewhere, which
  gets a warning instead when others can read it.
* a sandbox account remembers its gateway: a login to a gateway that says it
  is a sandbox stores ``"gateway"``, ``"sandbox": true`` and ``"gateway_active"``
  (extra fields uno-cli keeps and ignores) and never takes uno-cli's ``active``
  flag from the real account, and its key is only used with that gateway.
  Real accounts are written exactly as uno-cli writes them (no extra field) and
  serve every gateway that has no account of its own.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

from gptimg.errors import CredentialsCorrupt, GptimgError, NotLoggedIn
from gptimg.records import Record

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Any

ENV_API_KEY = "UNO_API_KEY"


def default_credentials_path() -> Path:
    return Path.home() / ".uno" / "credentials.json"


class ActiveKey(Record):
    """The key to use and where it came from (never printed, only its source).

    A NamedTuple, not a dataclass: this module is on the agent CLI's start-up path,
    and ``dataclasses`` (with ``inspect``) costs more to import than the call it serves.
    """

    api_key: str
    source: str  # "env" or "file"
    account: dict[str, Any] | None = None


class CredentialStore:
    """The accounts in one credentials file."""

    def __init__(self, path: Path | None = None, *, use_env: bool = True) -> None:
        self.path = Path(path) if path is not None else default_credentials_path()
        self.use_env = use_env
        #: Things a person should hear about (loose permissions fixed, a backup made).
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"CredentialStore({str(self.path)!r})"

    # --- reading ----------------------------------------------------------------------

    def accounts(self) -> list[dict[str, Any]]:
        """Every stored account, in file order. A damaged file raises ``CredentialsCorrupt``."""
        return self._read(strict=True)

    def active_account(self, gateway: str | None = None) -> dict[str, Any] | None:
        """The account to use with ``gateway`` (None: uno-cli's rule, the ``active`` one or the first)."""
        accounts = self.accounts()
        if gateway is not None:
            return account_for_gateway(accounts, gateway)
        if not accounts:
            return None
        return next((a for a in accounts if a.get("active")), accounts[0])

    def active_key(self, gateway: str | None = None) -> ActiveKey:
        """``UNO_API_KEY`` wins; then the active account (of ``gateway``, when given); then the first one."""
        if self.use_env:
            env_key = os.environ.get(ENV_API_KEY, "").strip()
            if env_key:
                return ActiveKey(env_key, "env")
        account = self.active_account(gateway)
        key = account.get("api_key") if account else None
        if not isinstance(key, str) or not key:
            raise NotLoggedIn("Not logged in.")
        return ActiveKey(key, "file", account)

    def _read(self, *, strict: bool) -> list[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CredentialsCorrupt(f"Cannot read {self.path}: {exc.strerror}") from None
        self._tighten_permissions()
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else []
        except (UnicodeDecodeError, ValueError):
            if strict:
                raise CredentialsCorrupt(f"{self.path} is not valid JSON; it was left as it is.") from None
            raise _Damaged() from None
        if isinstance(data, dict):
            data = [data]
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            if strict:
                raise CredentialsCorrupt(f"{self.path} does not hold a list of accounts; it was left as it is.")
            raise _Damaged()
        return data

    def _tighten_permissions(self) -> None:
        if os.name != "posix":
            return
        try:
            mode = stat.S_IMODE(self.path.stat().st_mode)
            if mode & 0o077:
                if self._own_file():
                    os.chmod(self.path, 0o600)
                    self.warnings.append(f"{self.path} was readable by others (mode {mode:04o}); set it to 0600.")
                else:
                    self._warn_foreign(self._target(), mode)
            self._tighten_directory()
        except OSError:
            pass

    def _tighten_directory(self) -> None:
        directory = self.path.parent
        mode = stat.S_IMODE(directory.stat().st_mode)
        if not mode & 0o077:
            return
        if directory.is_symlink():
            self._warn_foreign(directory.resolve(), mode)
        else:
            os.chmod(directory, 0o700)

    def _own_file(self) -> bool:
        """True when the file (and its folder) are ours to chmod: neither is a link to elsewhere."""
        return not self.path.is_symlink() and not self.path.parent.is_symlink()

    def _target(self) -> Path:
        """Where the accounts really live: the file, or what a symlinked file or folder points to."""
        return Path(os.path.realpath(self.path))

    def _warn_foreign(self, target: Path, mode: int) -> None:
        warning = (
            f"{target} (linked from {self.path.parent if self.path.parent.is_symlink() else self.path}) is readable "
            f"by others (mode {mode:04o}); gptimg changes nothing outside ~/.uno: chmod go-rwx {target}"
        )
        if warning not in self.warnings:
            self.warnings.append(warning)

    # --- writing ----------------------------------------------------------------------

    def save_account(
        self,
        api_key: str,
        name: str,
        email: str = "",
        user_id: str = "",
        *,
        gateway: str | None = None,
        sandbox: bool = False,
    ) -> dict[str, Any]:
        """Add or update an account (matched by email, else name, and gateway) and make it active.

        A sandbox account becomes the active one of its gateway only: uno-cli's ``active``
        flag, which the real gateway's account holds, is left where it is. A real account
        is stored byte-for-byte as uno-cli stores it.
        """
        if not sandbox:
            gateway = None
        with self._locked() as accounts:
            identifier = email or name
            existing = next(
                (
                    a
                    for a in accounts
                    if identifier
                    and identifier in (a.get("email"), a.get("name"))
                    and a.get("gateway") in (None, gateway)
                    and bool(a.get("sandbox")) == sandbox
                ),
                None,
            )
            if existing is None:
                existing = {}
                accounts.append(existing)
            for account in accounts:
                if not sandbox:
                    account.pop("active", None)
                if gateway is not None and account.get("gateway") == gateway:
                    account.pop("gateway_active", None)
            existing.update({"api_key": api_key, "name": name, "email": email, "user_id": user_id})
            if not sandbox:
                existing["active"] = True
                existing.pop("sandbox", None)
            else:
                existing.pop("active", None)
                existing["sandbox"] = True
            if gateway is not None:
                existing["gateway"] = gateway
                existing["gateway_active"] = True
            return {k: v for k, v in existing.items() if k != "api_key"}

    def remove(self, *, everything: bool = False, account: str | None = None, gateway: str | None = None) -> int:
        """Forget accounts: all, the named one, or the active one (of ``gateway``). Returns how many went."""
        with self._locked() as accounts:
            before = len(accounts)
            if everything:
                keep: list[dict[str, Any]] = []
            elif account:
                keep = [a for a in accounts if account not in (a.get("name"), a.get("email"))]
            else:
                if gateway is not None:
                    active = account_for_gateway(accounts, gateway)
                else:
                    active = next((a for a in accounts if a.get("active")), accounts[0] if accounts else None)
                keep = [a for a in accounts if a is not active]
            accounts[:] = keep
            return before - len(keep)

    def switch(self, account: str) -> dict[str, Any] | None:
        """Make the account named by ``account`` (name or email) active; None if unknown."""
        with self._locked() as accounts:
            match = next((a for a in accounts if account in (a.get("name"), a.get("email"))), None)
            if match is None:
                raise _NoChange(None)
            gateway = match.get("gateway")
            for item in accounts:
                if not match.get("sandbox"):
                    item.pop("active", None)
                if gateway is not None and item.get("gateway") == gateway:
                    item.pop("gateway_active", None)
            if not match.get("sandbox"):
                match["active"] = True
            if gateway is not None:
                match["gateway_active"] = True
            return {k: v for k, v in match.items() if k != "api_key"}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[list[dict[str, Any]]]:
        """Read, let the caller change the list, write it back atomically, all under one lock."""
        self._ensure_dir()
        with _file_lock(self.path.with_name(self.path.name + ".lock")):
            try:
                accounts = self._read(strict=False)
            except _Damaged:
                backup = self._back_up_damaged()
                self.warnings.append(f"{self.path} was damaged; it was saved as {backup} before being replaced.")
                accounts = []
            try:
                yield accounts
            except _NoChange:
                return
            self._write(accounts)

    def _ensure_dir(self) -> None:
        directory = self.path.parent
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if os.name == "posix":
            try:
                self._tighten_directory()
            except OSError:
                pass

    def _back_up_damaged(self) -> Path:
        target = self._target()
        backup = target.with_name(f"{target.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        counter = 1
        while backup.exists():
            backup = target.with_name(f"{target.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}-{counter}")
            counter += 1
        import shutil

        shutil.copy2(target, backup)  # a copy: the link (if any) keeps pointing at the file we rewrite
        return backup

    def _write(self, accounts: list[dict[str, Any]]) -> None:
        import tempfile  # only when writing; reads stay cheap for the agent CLI

        payload = json.dumps(accounts, indent=2, ensure_ascii=False).encode("utf-8")
        target = self._target()  # through any link, so the link stays a link
        mode = 0o600
        if not self._own_file():
            with contextlib.suppress(OSError):
                mode = stat.S_IMODE(target.stat().st_mode)  # not ours to change
        fd, temp_name = tempfile.mkstemp(prefix=".credentials-", suffix=".tmp", dir=target.parent)
        try:
            # mkstemp creates the file 0600 regardless of umask; say so again for other platforms.
            if os.name == "posix":
                os.fchmod(fd, mode)
            with os.fdopen(fd, "wb") as handle:
                handle.write(payload)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp_name, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp_name)
            raise
        _fsync_directory(target.parent)


def account_for_gateway(accounts: list[dict[str, Any]], gateway: str) -> dict[str, Any] | None:
    """The account that belongs to ``gateway``: its own active one, else uno-cli's active one if it
    is not bound elsewhere, else the first of its own, else the first unbound one."""
    own = [a for a in accounts if a.get("gateway") == gateway]
    unbound = [a for a in accounts if a.get("gateway") is None and not a.get("sandbox")]
    for group, flag in ((own, "gateway_active"), (own + unbound, "active")):
        marked = next((a for a in group if a.get(flag)), None)
        if marked is not None:
            return marked
    return (own or unbound or [None])[0]


class _Damaged(Exception):
    """The file exists but is not a list of accounts (internal signal)."""


class _NoChange(GptimgError):
    """Leave the file as it is (internal signal from inside ``_locked``)."""

    def __init__(self, result: Any) -> None:
        super().__init__("no change")
        self.result = result


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: msvcrt locks one byte instead
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
            try:
                yield
            finally:
                msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)  # type: ignore[attr-defined]
            return
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _fsync_directory(directory: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
