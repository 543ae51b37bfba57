"""The sandbox's knobs, and the one rule it never bends: it listens on loopback only.

The sandbox hands out working API keys to anyone who asks, so exposing it on a
network interface would be an open door. The check lives here, next to the
config, so every entry point (CLI, context manager) goes through it.
"""

from __future__ import annotations

from dataclasses import dataclass

from gptimg.loopback import is_loopback_host


@dataclass
class SandboxConfig:
    """How a sandbox gateway behaves; every field has a test- and demo-friendly default."""

    host: str = "127.0.0.1"
    #: 0 picks a free port.
    port: int = 0
    #: Seconds from submit until a job is done.
    delay: float = 3.0
    #: Starting balance of every account the sandbox creates on its own.
    credits: int = 3000
    #: Approve a device code at its first poll, as if a user clicked Authorise.
    auto_approve: bool = False
    #: Fraction (0..1) of result polls answered with an injected 502 or 429.
    fail_rate: float = 0.0
    #: Seed of the fail-rate sequence, so a failing run can be replayed.
    seed: int = 0
    #: Device-code poll interval in seconds. uno-cli sleeps a fixed 5 s, so 5 suits both clients.
    interval: int = 5
    #: Device-code lifetime in seconds (the real gateway uses 30 minutes).
    expires_in: int = 1800
    #: Size of a private ancillary chunk added to every PNG (benchmarks need big downloads).
    image_padding_bytes: int = 0
    #: Serve images from a second loopback listener, standing in for a CDN on another origin.
    separate_cdn: bool = False
    #: ``Retry-After`` (seconds) of injected 429s; small so reliability tests stay fast.
    retry_after: int = 1
    #: HTTP status of ``/oauth/token`` error answers: 200 like the official gateway (uno-cli 1.0.7
    #: treats any 400 there as final, so 400 would make it fail while a code is still pending);
    #: 400 is RFC 8628's choice, for testing clients that must accept both.
    token_error_status: int = 200
    #: One line per request on stderr (method, path, status, time; never headers or keys).
    verbose: bool = False
    #: ``/v1/auth/me`` as the skill document shows it ("credits") or as the official SDK does
    #: ("sdk": plan, free_credits_remaining, balance); see ``sandbox.accounting``.
    account_shape: str = "credits"
    #: The catalogue declares the submit idempotent (``idempotency_mode: gateway``).
    idempotent_submit: bool = False


class NonLoopbackHost(ValueError):
    """The requested bind address is not a loopback address (``gptimg.loopback`` has the rule)."""


def check_loopback(host: str) -> None:
    """Raise :class:`NonLoopbackHost` unless ``host`` is loopback by the same rule the client uses."""
    if not is_loopback_host(host):
        raise NonLoopbackHost(
            f"refusing to listen on {host!r}: the sandbox gateway only binds to loopback "
            "(127.0.0.0/8, ::1 or localhost)"
        )


def url_host(host: str) -> str:
    """The host as it appears in a URL: IPv6 literals get brackets."""
    text = host.strip()
    if ":" in text and not text.startswith("["):
        return f"[{text}]"
    return text
