"""Everything the sandbox remembers: accounts, keys, device codes, jobs, uploads, counters.

All of it sits behind one plain ``threading.Lock``. Job progress is not driven
by a worker thread: a job's status is a function of its submit time and the
configured delay, so nothing can fall behind. Long-polls wait on the stop
event with a timeout that ends exactly when the job does (or when the
sandbox stops, which wakes every waiter at once), without the lock.

Test hook: a prompt containing ``[sandbox:fail]`` makes its job end in status
``error``, so clients' failure paths can be exercised end to end.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from gptimg import image_tool

from . import catalog
from .config import SandboxConfig
from .failures import ApiFailure
from .validation import SubmitArguments

DEFAULT_ACCOUNT_NAME = "Sandbox User"
DEFAULT_ACCOUNT_EMAIL = "sandbox@example.invalid"
FAIL_TRIGGER = "[sandbox:fail]"
MAX_FILE_BYTES = 8 * 1024 * 1024
UPLOAD_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
#: RFC 8628 suggests consonants only, so user codes never spell words or confuse 0/O.
_USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ"
#: A job is "pending" (queued) for this share of its delay, at most _MAX_PENDING seconds, then "running".
_PENDING_SHARE = 0.2
_MAX_PENDING = 1.0


def new_api_key() -> str:
    return "uno_sbx_" + secrets.token_hex(16)


def normalise_user_code(code: str) -> str:
    """Users type codes loosely: ``abcd efgh`` and ``ABCDEFGH`` both mean ``ABCD-EFGH``."""
    letters = "".join(ch for ch in code.upper() if ch.isalnum())
    return f"{letters[:4]}-{letters[4:]}" if len(letters) == 8 else letters


@dataclass
class Account:
    """A sandbox user; keys map onto it, jobs belong to it."""

    id: str
    name: str
    email: str
    credits: int

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "email": self.email, "credits": self.credits, "plan": "sandbox"}


@dataclass
class DeviceGrant:
    """One device-code login in progress (RFC 8628)."""

    device_code: str
    user_code: str
    client_id: str
    scope: str
    issued_at: float
    expires_at: float
    interval: int
    #: pending -> approved | denied; approved -> consumed once the token is handed out.
    status: str = "pending"
    last_poll_at: float | None = None
    account_id: str | None = None


@dataclass
class Job:
    """A generation job; its status is derived from the clock, never stored."""

    job_id: str
    account_id: str
    args: SubmitArguments
    submitted_at: float
    delay: float
    fails: bool = False

    @property
    def done_at(self) -> float:
        return self.submitted_at + self.delay

    def status_at(self, now: float) -> str:
        if now >= self.done_at:
            return "error" if self.fails else "done"
        if now - self.submitted_at < min(self.delay * _PENDING_SHARE, _MAX_PENDING):
            return "pending"
        return "running"


@dataclass
class StoredFile:
    """An uploaded reference image, served back at its URL."""

    file_id: str
    content_type: str
    data: bytes


@dataclass
class Counters:
    submits: int = 0
    result_polls: int = 0
    requests: int = 0
    uploads: int = 0
    cdn_requests: int = 0
    cdn_authorization_headers: int = 0
    injected_failures: int = 0


class TokenError(Exception):
    """An RFC 8628 token-endpoint error code (``authorization_pending``, ``slow_down``...)."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.description = description


class SandboxState:
    """Thread-safe in-memory model of one gateway; the HTTP layer only translates to and from it."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.config = config
        self._clock = clock
        #: A plain lock, not a Condition: Condition's __enter__/__exit__ are Python functions, where
        #: the interpreter may hand the GIL to another thread while this lock is still held (py-spy
        #: at C=256 showed 16% of on-CPU samples in Condition.__exit__, threads queueing on it).
        self._lock = threading.Lock()
        #: Set once by stop(); long-polls wait on it, so nothing they do takes the state lock.
        self._stopped = threading.Event()
        self._accounts: dict[str, Account] = {}
        self._keys: dict[str, str] = {}
        self._grants: dict[str, DeviceGrant] = {}
        self._grants_by_user_code: dict[str, str] = {}
        self._jobs: dict[str, Job] = {}
        self._files: dict[str, StoredFile] = {}
        self._counters = Counters()
        self._rng = random.Random(config.seed)
        self._default_account_id = self._add_account(DEFAULT_ACCOUNT_NAME, DEFAULT_ACCOUNT_EMAIL, config.credits).id

    # --- accounts and keys -----------------------------------------------------------

    def _add_account(self, name: str, email: str, credits: int) -> Account:
        account = Account(id="usr_" + secrets.token_hex(6), name=name, email=email, credits=int(credits))
        self._accounts[account.id] = account
        return account

    def _account_by_email(self, email: str) -> Account | None:
        wanted = email.strip().lower()
        return next((a for a in self._accounts.values() if a.email.lower() == wanted), None)

    def create_account(self, name: str, email: str, credits: int | None = None) -> str:
        """A new key for the account with this email (created with ``credits`` if it does not exist)."""
        with self._lock:
            account = self._account_by_email(email)
            if account is None:
                account = self._add_account(name, email, self.config.credits if credits is None else credits)
            elif credits is not None:
                account.credits = int(credits)
            key = new_api_key()
            self._keys[key] = account.id
            return key

    def account_for_key(self, key: str | None) -> Account:
        """The key's account, or the gateway's 401."""
        with self._lock:
            account_id = self._keys.get(key or "")
            if account_id is None:
                raise ApiFailure(
                    401,
                    "invalid_api_key",
                    "Invalid API key: missing, unknown or revoked." if key else "Missing API key.",
                )
            return self._accounts[account_id]

    def describe_account(self, account: Account) -> dict[str, Any]:
        with self._lock:
            return account.describe()

    # --- device-code login ------------------------------------------------------------

    def start_device(self, client_id: str, scope: str) -> DeviceGrant:
        with self._lock:
            now = self._clock()
            while True:
                raw = "".join(secrets.choice(_USER_CODE_ALPHABET) for _ in range(8))
                user_code = normalise_user_code(raw)
                if user_code not in self._grants_by_user_code:
                    break
            grant = DeviceGrant(
                device_code=secrets.token_urlsafe(32),
                user_code=user_code,
                client_id=client_id,
                scope=scope,
                issued_at=now,
                expires_at=now + self.config.expires_in,
                interval=self.config.interval,
            )
            self._grants[grant.device_code] = grant
            self._grants_by_user_code[user_code] = grant.device_code
            return grant

    def grant_for_user_code(self, user_code: str) -> DeviceGrant | None:
        with self._lock:
            device_code = self._grants_by_user_code.get(normalise_user_code(user_code))
            return self._grants.get(device_code) if device_code else None

    def decide_device(self, user_code: str, *, approve: bool, email: str | None = None) -> DeviceGrant:
        """The user pressed Authorise or Deny. Repeating the same decision is harmless; changing it is not."""
        with self._lock:
            device_code = self._grants_by_user_code.get(normalise_user_code(user_code))
            grant = self._grants.get(device_code) if device_code else None
            if grant is None:
                raise ApiFailure(404, "invalid_user_code", "No login is waiting for this code.")
            if self._clock() >= grant.expires_at:
                raise ApiFailure(400, "expired_token", "This code has expired. Start the login again.")
            wanted = "approved" if approve else "denied"
            if grant.status == "pending":
                grant.status = wanted
                if approve:
                    grant.account_id = self._account_for_approval(email).id
            elif grant.status != wanted and not (approve and grant.status == "consumed"):
                raise ApiFailure(409, "already_decided", f"This code was already {grant.status}.")
            return grant

    def _account_for_approval(self, email: str | None) -> Account:
        if not email or not email.strip():
            return self._accounts[self._default_account_id]
        account = self._account_by_email(email)
        if account is None:
            account = self._add_account(email.split("@")[0] or email, email.strip(), self.config.credits)
        return account

    def poll_token(self, device_code: str) -> tuple[str, DeviceGrant]:
        """A new key once the code is approved; otherwise raise :class:`TokenError` (RFC 8628 §3.5)."""
        with self._lock:
            grant = self._grants.get(device_code or "")
            if grant is None:
                raise TokenError("invalid_grant", "Unknown device_code.")
            now = self._clock()
            if now >= grant.expires_at:
                raise TokenError("expired_token", "The device code has expired.")
            too_soon = grant.last_poll_at is not None and now - grant.last_poll_at < grant.interval
            grant.last_poll_at = now
            if too_soon:
                grant.interval += 5
                raise TokenError("slow_down", f"Polling too fast; wait {grant.interval} s between polls.")
            if grant.status == "pending" and self.config.auto_approve:
                grant.status = "approved"
                grant.account_id = self._default_account_id
            if grant.status == "pending":
                raise TokenError("authorization_pending", "Waiting for the user to authorise.")
            if grant.status == "denied":
                raise TokenError("access_denied", "The user denied the request.")
            if grant.status == "consumed":
                raise TokenError("invalid_grant", "This device code was already exchanged for a key.")
            grant.status = "consumed"
            key = new_api_key()
            assert grant.account_id is not None
            self._keys[key] = grant.account_id
            return key, grant

    # --- jobs ---------------------------------------------------------------------------

    def submit(self, account: Account, args: SubmitArguments, recharge_url: str) -> Job:
        """Debit the price and create the job, or refuse with nothing debited."""
        cost = catalog.tool_cost(image_tool.SUBMIT_TOOL)
        with self._lock:
            if account.credits < cost:
                raise ApiFailure(
                    402,
                    "insufficient_credits",
                    f"Insufficient credits: this call costs {cost}, the balance is {account.credits}.",
                    meta={"credits_used": 0, "charged": False, "credits_required": cost,
                          "credits_remaining": account.credits},
                    extra={"recharge_url": recharge_url},
                )
            account.credits -= cost
            self._counters.submits += 1
            job_id = secrets.token_hex(6)
            while job_id in self._jobs:
                job_id = secrets.token_hex(6)
            job = Job(
                job_id=job_id,
                account_id=account.id,
                args=args,
                submitted_at=self._clock(),
                delay=max(0.0, float(self.config.delay)),
                fails=FAIL_TRIGGER in args.prompt,
            )
            self._jobs[job_id] = job
            return job

    def credits_of(self, account: Account) -> int:
        with self._lock:
            return account.credits

    def draw_poll_failure(self) -> str | None:
        """Count a result poll and decide, from the seeded sequence, whether to fail it ("502"/"429")."""
        with self._lock:
            self._counters.result_polls += 1
            if self.config.fail_rate <= 0 or self._rng.random() >= self.config.fail_rate:
                return None
            kind = "502" if self._counters.injected_failures % 2 == 0 else "429"
            self._counters.injected_failures += 1
            return kind

    def job_for(self, account: Account, job_id: str) -> Job:
        """The account's job; someone else's job is reported exactly like a missing one."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.account_id != account.id:
                raise ApiFailure(404, "job_not_found", f"No job {job_id!r} for this account.",
                                 meta={"credits_used": 0})
            return job

    def wait_for_job(self, job: Job, wait_seconds: float) -> str:
        """Hold until the job ends, ``wait_seconds`` pass, or the sandbox stops; return the status then.

        A job's status is a function of the clock and its immutable fields, so the wait needs no
        lock: it sleeps on the stop event until the job's end or the deadline, whichever is first
        (no polling loop, and 256 long-polls cost 256 sleeping threads, not a queue on one lock).
        """
        deadline = self._clock() + max(0.0, wait_seconds)
        while True:
            now = self._clock()
            status = job.status_at(now)
            if status in ("done", "error") or self._stopped.is_set():
                return status
            remaining = min(job.done_at, deadline) - now
            if remaining <= 0:
                return status
            self._stopped.wait(remaining)

    def job_status(self, job: Job) -> str:
        return job.status_at(self._clock())

    def finished_job(self, job_id: str) -> Job | None:
        """A done job by id alone: image URLs are capability links, served without a key."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.status_at(self._clock()) != "done":
                return None
            return job

    # --- uploads ----------------------------------------------------------------------

    def store_file(self, content_type: str, data: bytes) -> StoredFile:
        with self._lock:
            stored = StoredFile(file_id="f_" + secrets.token_hex(16), content_type=content_type, data=data)
            self._files[stored.file_id] = stored
            self._counters.uploads += 1
            return stored

    def get_file(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    # --- counters and lifecycle -----------------------------------------------------

    def count_request(self) -> None:
        with self._lock:
            self._counters.requests += 1

    def count_cdn_request(self, had_authorization: bool) -> None:
        with self._lock:
            self._counters.cdn_requests += 1
            if had_authorization:
                self._counters.cdn_authorization_headers += 1

    def stats(self) -> dict[str, Any]:
        with self._lock:
            c = self._counters
            return {
                "submits": c.submits,
                "result_polls": c.result_polls,
                "requests": c.requests,
                "uploads": c.uploads,
                "accounts": [{"email": a.email, "credits": a.credits} for a in self._accounts.values()],
                "cdn_requests": c.cdn_requests,
                "cdn_authorization_headers": c.cdn_authorization_headers,
                "injected_failures": c.injected_failures,
            }

    def stop(self) -> None:
        """Wake every long-poll so handler threads finish promptly."""
        self._stopped.set()
