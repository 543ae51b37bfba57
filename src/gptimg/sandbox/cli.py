"""``gptimg sandbox`` / ``python -m gptimg.sandbox``: run the sandbox gateway in the foreground.

The first stdout line is a contract (scripts and the e2e fixtures read the
URL from it), so it is printed exactly once, flushed at once, and nothing
else is written to stdout.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, Callable

from .config import NonLoopbackHost, SandboxConfig, check_loopback
from .server import SandboxGateway

PROG = "gptimg sandbox"


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be between 0 and 1")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("must be a number >= 0")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be an integer >= 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be an integer >= 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0..65535 (0 picks a free port)")
    return value


def build_parser() -> argparse.ArgumentParser:
    defaults = SandboxConfig()
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Run a local fake of the Uno tool gateway (loopback only) for offline use, demos and tests.",
    )
    p.add_argument("--host", default=defaults.host, help="loopback address to bind (default: %(default)s)")
    p.add_argument("--port", type=_port, default=defaults.port, help="port; 0 picks a free one (default: 0)")
    p.add_argument("--delay", type=_non_negative_float, default=defaults.delay,
                   help="seconds from submit until a job is done (default: %(default)s)")
    p.add_argument("--credits", type=_non_negative_int, default=defaults.credits,
                   help="starting balance of each account (default: %(default)s)")
    p.add_argument("--auto-approve", action="store_true", help="approve device codes at their first poll")
    p.add_argument("--fail-rate", type=_fraction, default=defaults.fail_rate,
                   help="fraction of result polls answered 502 or 429 (default: 0)")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed of the --fail-rate sequence")
    p.add_argument("--interval", type=_positive_int, default=defaults.interval,
                   help="device-code poll interval in seconds (default: %(default)s)")
    p.add_argument("--expires-in", type=_positive_int, default=defaults.expires_in,
                   help="device-code lifetime in seconds (default: %(default)s)")
    p.add_argument("--image-padding-bytes", type=_non_negative_int, default=defaults.image_padding_bytes,
                   help="pad every PNG with this many bytes in a private chunk (benchmarks)")
    p.add_argument("--separate-cdn", action="store_true",
                   help="serve images from a second loopback port (a different origin, like a CDN)")
    p.add_argument("--retry-after", type=_non_negative_int, default=defaults.retry_after,
                   help="Retry-After seconds of injected 429s (default: %(default)s)")
    p.add_argument("--token-error-status", type=int, choices=(200, 400), default=defaults.token_error_status,
                   help="HTTP status of /oauth/token errors: 400 per RFC 8628, 200 like the official gateway")
    p.add_argument("--verbose", action="store_true", help="log one line per request on stderr")
    p.add_argument("--account-shape", choices=("credits", "sdk"), default=defaults.account_shape,
                   help="/v1/auth/me with 'credits', or the SDK's plan/free_credits_remaining/balance")
    p.add_argument("--idempotent-submit", action="store_true",
                   help="declare the submit idempotent in the catalogue (idempotency_key repeats charge once)")
    return p


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    return SandboxConfig(
        host=args.host, port=args.port, delay=args.delay, credits=args.credits,
        auto_approve=args.auto_approve, fail_rate=args.fail_rate, seed=args.seed,
        interval=args.interval, expires_in=args.expires_in,
        image_padding_bytes=args.image_padding_bytes, separate_cdn=args.separate_cdn,
        retry_after=args.retry_after, token_error_status=args.token_error_status, verbose=args.verbose,
        account_shape=args.account_shape, idempotent_submit=args.idempotent_submit,
    )


def serve(config: SandboxConfig, on_listening: Callable[[SandboxGateway], Any] | None = None) -> None:
    """Serve until Ctrl-C or SIGTERM, then stop cleanly and return.

    Both signals only set an event (when called from the main thread), so a
    signal arriving at any moment, even during start-up or shutdown, ends in
    the same orderly stop. Raises :class:`NonLoopbackHost` before binding
    anything, and ``OSError`` when the port cannot be bound.
    """
    check_loopback(config.host)
    stop = threading.Event()
    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda signum, frame: stop.set())
    try:
        with SandboxGateway(config) as gateway:
            sys.stdout.write(f"sandbox gateway listening on {gateway.base_url}\n")
            sys.stdout.flush()
            if on_listening is not None:
                on_listening(gateway)
            if config.separate_cdn and config.verbose:
                sys.stderr.write(f"sandbox: images served from {gateway.image_base_url}\n")
            try:
                while not stop.wait(0.2):
                    pass
            except KeyboardInterrupt:
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None, *, on_listening: Callable[[SandboxGateway], Any] | None = None) -> int:
    """Entry point of ``python -m gptimg.sandbox``; the Typer ``gptimg sandbox`` command forwards here."""
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    try:
        serve(config, on_listening)
    except KeyboardInterrupt:
        return 0
    except NonLoopbackHost as err:
        sys.stderr.write(f"{PROG}: error: {err}\n")
        return 2
    except OSError as err:
        sys.stderr.write(f"{PROG}: error: cannot listen on {config.host}:{config.port}: {err.strerror or err}\n")
        return 1
    return 0
