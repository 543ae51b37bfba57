"""Every failure gptimg can report, each with a stable ``code``, a ``hint`` and an exit code.

The CLIs only render these: they never decide an exit code by matching strings.
One place (``gateway.errormap``) turns transport failures and HTTP answers
(statuses, error envelopes) into this hierarchy. Messages never contain the API key: the
constructors take no key, and ``details`` is masked before anyone prints it.

Exit codes (documented in the README; ``EXIT_CODES`` below gives each error code its one):

====  =====================================================
0     success
1     gateway or network failure, anything not listed below
2     bad input or usage: nothing was sent, nothing was spent
3     not logged in, or the key was refused
4     insufficient credits
5     the generation failed (the job ended in ``error``)
6     the job was still running when ``--timeout`` ran out
7     a submit's outcome is unknown (it may have been charged)
130   interrupted (Ctrl-C)
143   terminated (SIGTERM)
====  =====================================================
"""

from __future__ import annotations

# ``typing`` costs ~5 ms of every agent CLI start; annotations here are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_AUTH = 3
EXIT_CREDITS = 4
EXIT_JOB_FAILED = 5
EXIT_STILL_RUNNING = 6
EXIT_OUTCOME_UNKNOWN = 7
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class GptimgError(Exception):
    """Base of every error gptimg raises on purpose."""

    code: str = "error"
    hint: str = ""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        code: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint
        if code is not None:
            self.code = code
        #: Extra fields worth showing (gateway ``message``, ``meta``, ``recharge_url``, ``job_id``...).
        self.details: dict[str, Any] = dict(details or {})

    @property
    def exit_code(self) -> int:
        """Decided by the code, so one failure exits the same way whichever path raised it.

        A code the table does not list (one the gateway made up, or a subclass's) exits
        as the nearest class above it whose code the table does list.
        """
        if self.code in EXIT_CODES:
            return EXIT_CODES[self.code]
        for cls in type(self).__mro__:
            if getattr(cls, "code", None) in EXIT_CODES:
                return EXIT_CODES[cls.code]  # type: ignore[attr-defined]
        return EXIT_FAILURE

    def to_dict(self) -> dict[str, Any]:
        """The failure envelope both CLIs print: ``{"success": false, "error", "hint", ...}``."""
        out: dict[str, Any] = {"success": False, "error": self.code, "message": self.message}
        if self.hint:
            out["hint"] = self.hint
        for key, value in self.details.items():
            out.setdefault(key, value)
        return out


# --- bad input: raised before anything is sent ------------------------------------------


class BadInput(GptimgError):
    """The user's input cannot be sent as it is; nothing was sent or spent."""

    code = "bad_input"
    hint = "Fix the input and run the command again."


class UsageError(BadInput):
    """The command line itself is wrong: an unknown option, a value out of range, a bad combination."""

    code = "usage"


class InvalidArguments(BadInput):
    """Tool arguments fail the documented ranges (prompt, size, n, style, refs)."""

    code = "invalid_arguments"


class InvalidConfig(BadInput):
    """A setting is unusable: a base URL that is not a URL, or plain HTTP off loopback."""

    code = "invalid_config"


class InsecureTransport(InvalidConfig):
    """Refused to send the key over plain HTTP to a host that is not loopback."""

    code = "insecure_transport"
    hint = "Use an https:// base URL; plain http is only allowed for 127.0.0.1, ::1 or localhost."


class ToolNotAllowed(BadInput):
    """The slug is outside ``UNO_ALLOWED_TOOLS``."""

    code = "tool_not_allowed"
    hint = "This client is scoped to the gpt-image-2 tools (UNO_ALLOWED_TOOLS)."


class CredentialsCorrupt(BadInput):
    """The credentials file exists but cannot be read as accounts; it is left untouched."""

    code = "credentials_corrupt"
    hint = "Fix or move the file, or log in again: the damaged file is backed up before any rewrite."


class ConfirmationRequired(BadInput):
    """A paid action needs a yes, and there is nobody at a terminal to give it."""

    code = "confirmation_required"
    hint = "Nothing was spent. Add --yes to confirm the spend (agents: ask your user first)."


class Declined(GptimgError):
    """The person answered no at the cost confirmation."""

    code = "declined"
    hint = "Nothing was spent."


# --- auth ---------------------------------------------------------------------------------


class AuthError(GptimgError):
    """The gateway does not know who we are."""

    code = "auth_error"


class NotLoggedIn(AuthError):
    """No key in ``UNO_API_KEY`` and no account in the credentials file."""

    code = "not_logged_in"
    hint = "Run: gptimg login (agents: python bin/uno.py login --start)"


class InvalidApiKey(AuthError):
    """The gateway answered 401: the key is missing, wrong or revoked."""

    code = "invalid_api_key"
    hint = "The key was refused. Log in again: gptimg login"

    def __init__(self, message: str, *, status: int | None = None, body: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        #: Like ``GatewayError``: the HTTP status (401) and the parsed body, when the gateway sent one.
        self.status = status
        self.body = body


class DeviceFlowError(AuthError):
    """The device-code login ended without a key."""

    code = "login_failed"


class DeviceCodeExpired(DeviceFlowError):
    """The user code expired before it was approved."""

    code = "expired_token"
    hint = "The code expired. Start the login again."


class AccessDenied(DeviceFlowError):
    """The user pressed Deny on the device page."""

    code = "access_denied"
    hint = "Authorisation was denied in the browser. Start again if that was a mistake."


class LoginTimeout(DeviceFlowError):
    """The device code's lifetime ran out while we were still polling."""

    code = "login_timeout"
    hint = "Nobody approved the code in time. Start the login again."


# --- the gateway said no ------------------------------------------------------------------


class GatewayError(GptimgError):
    """The gateway answered with an error envelope or an unusable response."""

    code = "gateway_error"
    hint = "The gateway refused the call; its message says why. Try again later if it looks temporary."

    def __init__(self, message: str, *, status: int | None = None, body: Any = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.status = status
        #: The parsed response body (dict, list or text), for the agent CLI's uno-cli-shaped output.
        self.body = body


class InsufficientCredits(GatewayError):
    """The balance is below the tool's price; nothing was charged."""

    code = "insufficient_credits"
    hint = "Top up your credits, then run the command again."


class RateLimited(GatewayError):
    """HTTP 429 or ``rate_limit_exceeded``; ``retry_after`` says how long to wait."""

    code = "rate_limit_exceeded"
    hint = "Too many calls. Wait a moment and try again."

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ToolNotFound(GatewayError):
    """The gateway does not know the slug."""

    code = "tool_not_found"
    hint = "Check the tool slug: gpt-image-2.gpt_image2_submit or gpt-image-2.gpt_image2_result"


class GatewayRejectedArguments(GatewayError):
    """The gateway refused the tool arguments (``invalid_arguments``)."""

    code = "invalid_arguments"
    hint = "Check prompt, size, n, style and reference_image_urls against `gptimg styles` and --help."


class ServerError(GatewayError):
    """HTTP 5xx from the gateway (502/503/504 are retried for free calls)."""

    code = "server_error"
    hint = "The gateway had a problem. Try again in a moment."


class InvalidResponse(GatewayError):
    """The body was not the JSON we expected (an HTML error page, a wrong type, too large)."""

    code = "invalid_response"
    hint = "The server did not answer like an Uno gateway. Check --base-url / UNO_API_URL."


class LineAlreadySubmitted(GptimgError):
    """Another run (another process) submitted this batch line first; it is not paid for twice."""

    code = "already_submitted"
    hint = "Another gptimg run submitted this line at the same moment; see: gptimg jobs"


class SubmitOutcomeUnknown(GatewayError):
    """A paid submit may have reached the gateway but no answer came back. Never resent."""

    code = "outcome_unknown"
    hint = "The submit may have been charged. Check `gptimg jobs` and your balance before trying again."


class JournalUnavailable(GptimgError):
    """The job journal cannot be used: damaged, read-only, locked too long, or from a newer gptimg.

    Checked before any spend, so when this stops a paid command nothing was sent.
    After a submit it carries the job id (kept in the fallback file instead).
    """

    code = "journal_unavailable"


# --- transport: no usable answer at all ---------------------------------------------------


class TransportError(GptimgError):
    """No HTTP answer: connection, DNS, TLS or timeout."""

    code = "network_error"
    hint = "Check your network connection and the gateway URL (--base-url / UNO_API_URL)."


class ConnectionFailed(TransportError):
    """The connection was refused or dropped before a request could be sent."""

    code = "connection_failed"


class ConnectionRefused(ConnectionFailed):
    """Nothing listens at the gateway's address: the request was certainly not sent."""


class DNSFailure(TransportError):
    """The gateway's host name did not resolve."""

    code = "dns_failed"


class TLSFailure(TransportError):
    """The TLS handshake failed (proxy, clock, or certificate)."""

    code = "tls_failed"
    hint = "TLS failed: check proxies, the system clock and certificates."


class RequestTimeout(TransportError):
    """No answer within the read timeout."""

    code = "timeout"
    hint = "The gateway did not answer in time. Try again, or raise --timeout."


# --- jobs ---------------------------------------------------------------------------------


class JobError(GptimgError):
    """A submitted job did not give us images."""

    code = "job_error"

    def __init__(self, message: str, *, job_id: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.job_id = job_id
        self.details.setdefault("job_id", job_id)


class JobFailed(JobError):
    """The job ended with status ``error``."""

    code = "generation_failed"
    hint = "The model could not make this image. Try a different prompt."


class JobNotFound(JobError):
    """The gateway no longer knows the job (restarted, expired, or another account's)."""

    code = "job_not_found"
    hint = "The gateway does not know this job any more; it cannot be fetched."


class JobStillRunning(JobError):
    """``--timeout`` ran out while the job was still pending or running."""

    code = "still_running"


class DownloadFailed(JobError):
    """An image could not be fetched or is not an image."""

    code = "download_failed"
    hint = "The job is done; fetch it again later with: gptimg result JOB_ID"


class OutputNotWritable(JobError):
    """``--out`` cannot be created or written (permissions, full disk).

    Checked before the submit (no job yet), and again when saving: then the job is
    paid for, so ``job_id`` names it and the hint gives its ``gptimg result`` command.
    Either way it exits 1, never 2, since 2 promises that nothing was spent.
    """

    code = "output_not_writable"
    hint = "Pick another folder with --out DIR, or free some space."

    def __init__(self, message: str, *, job_id: str | None = None, **kwargs: Any) -> None:
        GptimgError.__init__(self, message, **kwargs)
        self.job_id = job_id or ""
        if job_id:
            self.details.setdefault("job_id", job_id)


# --- the one exit-code table -------------------------------------------------------------

#: Error code -> exit code: the only place an exit code is decided (see ``GptimgError.exit_code``).
EXIT_CODES: dict[str, int] = {
    # nothing was sent, nothing was spent
    BadInput.code: EXIT_BAD_INPUT,
    UsageError.code: EXIT_BAD_INPUT,
    InvalidArguments.code: EXIT_BAD_INPUT,
    InvalidConfig.code: EXIT_BAD_INPUT,
    InsecureTransport.code: EXIT_BAD_INPUT,
    ToolNotAllowed.code: EXIT_BAD_INPUT,
    CredentialsCorrupt.code: EXIT_BAD_INPUT,
    ConfirmationRequired.code: EXIT_BAD_INPUT,
    "account_not_found": EXIT_BAD_INPUT,
    "output_exists": EXIT_BAD_INPUT,  # -o names a file that exists (no --overwrite)
    "converter_missing": EXIT_BAD_INPUT,  # a .jpg/.webp target without Pillow
    # who we are
    AuthError.code: EXIT_AUTH,
    NotLoggedIn.code: EXIT_AUTH,
    InvalidApiKey.code: EXIT_AUTH,
    DeviceFlowError.code: EXIT_AUTH,
    DeviceCodeExpired.code: EXIT_AUTH,
    AccessDenied.code: EXIT_AUTH,
    LoginTimeout.code: EXIT_AUTH,
    # money and jobs
    InsufficientCredits.code: EXIT_CREDITS,
    JobFailed.code: EXIT_JOB_FAILED,
    JobNotFound.code: EXIT_JOB_FAILED,
    JobStillRunning.code: EXIT_STILL_RUNNING,
    SubmitOutcomeUnknown.code: EXIT_OUTCOME_UNKNOWN,
    # everything else is a failure worth retrying or reporting: exit 1
    GptimgError.code: EXIT_FAILURE,
    Declined.code: EXIT_FAILURE,
    OutputNotWritable.code: EXIT_FAILURE,
    DownloadFailed.code: EXIT_FAILURE,
    JobError.code: EXIT_FAILURE,
    LineAlreadySubmitted.code: EXIT_FAILURE,
    JournalUnavailable.code: EXIT_FAILURE,
    GatewayError.code: EXIT_FAILURE,
    RateLimited.code: EXIT_FAILURE,
    ToolNotFound.code: EXIT_FAILURE,
    ServerError.code: EXIT_FAILURE,
    InvalidResponse.code: EXIT_FAILURE,
    TransportError.code: EXIT_FAILURE,
    ConnectionFailed.code: EXIT_FAILURE,
    DNSFailure.code: EXIT_FAILURE,
    TLSFailure.code: EXIT_FAILURE,
    RequestTimeout.code: EXIT_FAILURE,
}


# --- signals ------------------------------------------------------------------------------


class Terminated(BaseException):
    """SIGTERM arrived; raised like KeyboardInterrupt so cleanup runs."""
