"""``gptimg sandbox``: serve the local gateway in the foreground, and say what to do next.

The options are the ones ``python -m gptimg.sandbox`` takes, declared here with
Typer so ``gptimg sandbox --help`` looks like every other gptimg command. The
first stdout line stays the contract scripts read (``sandbox gateway listening
on URL``); the next steps for a person go to stderr.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Optional

import typer

from gptimg.cli.app import app

if TYPE_CHECKING:
    from gptimg.sandbox import SandboxGateway

def next_steps(gateway: SandboxGateway) -> str:
    """What a person does with a sandbox that is now listening (plain text: any terminal shows it)."""
    url = gateway.base_url
    return (
        "\n"
        "Sandbox gateway running: test credits only, nothing real is spent. In another terminal:\n"
        "\n"
        f"  export UNO_API_URL={url}\n"
        "  gptimg login              # approve the code at " + f"{url}/device\n"
        '  gptimg generate "a red fox"\n'
        "\n"
        "Accounts and jobs made here are marked as sandbox ones and kept apart from your real account.\n"
        "Stop the sandbox with Ctrl-C.\n"
    )


@app.command("sandbox")
def sandbox(
    host: Optional[str] = typer.Option(None, "--host", metavar="ADDRESS", help="Loopback address to bind (127.0.0.1)."),
    port: Optional[int] = typer.Option(None, "--port", min=0, max=65535, metavar="PORT", help="Port; 0 (the default) picks a free one."),
    delay: Optional[float] = typer.Option(
        None, "--delay", min=0.0, metavar="SECONDS", help="Seconds from submit until a job is done (3)."
    ),
    credits: Optional[int] = typer.Option(None, "--credits", min=0, metavar="N", help="Starting balance of each account (3000)."),
    auto_approve: bool = typer.Option(False, "--auto-approve", help="Approve device codes at their first poll."),
    fail_rate: Optional[float] = typer.Option(
        None, "--fail-rate", min=0.0, max=1.0, metavar="0..1", help="Fraction of result polls answered 502 or 429."
    ),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", help="Seed of the --fail-rate sequence."),
    interval: Optional[int] = typer.Option(None, "--interval", min=1, metavar="SECONDS", help="Device-code poll interval (5)."),
    expires_in: Optional[int] = typer.Option(
        None, "--expires-in", min=1, metavar="SECONDS", help="Device-code lifetime (1800)."
    ),
    image_padding_bytes: Optional[int] = typer.Option(
        None, "--image-padding-bytes", min=0, metavar="N", help="Pad every PNG with N bytes (benchmarks)."
    ),
    separate_cdn: bool = typer.Option(False, "--separate-cdn", help="Serve images from a second loopback port."),
    retry_after: Optional[int] = typer.Option(
        None, "--retry-after", min=0, metavar="SECONDS", help="Retry-After of injected 429s (1)."
    ),
    token_error_status: Optional[int] = typer.Option(
        None, "--token-error-status", metavar="200|400", help="HTTP status of /oauth/token errors: 200 like the official gateway (default), 400 per RFC 8628."
    ),
    verbose: bool = typer.Option(False, "--verbose", help="Log one line per request on stderr."),
) -> None:
    """Run a local, offline Uno gateway on 127.0.0.1 to try gptimg without spending anything."""
    from gptimg import errors
    from gptimg.sandbox.cli import main as sandbox_main

    if token_error_status not in (None, 200, 400):
        raise errors.UsageError("--token-error-status must be 200 or 400.")
    given = {
        "--host": host, "--port": port, "--delay": delay, "--credits": credits, "--fail-rate": fail_rate,
        "--seed": seed, "--interval": interval, "--expires-in": expires_in,
        "--image-padding-bytes": image_padding_bytes, "--retry-after": retry_after,
        "--token-error-status": token_error_status,
    }
    argv = [part for flag, value in given.items() if value is not None for part in (flag, str(value))]
    argv += [flag for flag, on in (("--auto-approve", auto_approve), ("--separate-cdn", separate_cdn),
                                   ("--verbose", verbose)) if on]
    code = sandbox_main(argv, on_listening=lambda gateway: sys.stderr.write(next_steps(gateway)))
    sys.stdout.flush()
    raise typer.Exit(code)
