"""uno-cli's commands beyond the skill's flow: ``logs``, and a clear refusal for the rest.

``logs`` is done as uno-cli does it: after an ``outcome_unknown`` submit it is the only
way an agent can learn whether it was charged. The others are answered with one JSON
error naming uno-cli, each for its own reason (``UNO_CLI_ONLY``).
"""

from __future__ import annotations

import argparse

from gptimg.unocli.output import fail, ok

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from typing import Any

    from gptimg.unocli.commands import Context

USAGE_DAYS = 7
LOG_FIELDS = ("tool", "latency_ms", "credits", "success", "error_code", "created_at")

#: Command -> why this CLI leaves it to uno-cli rather than doing it.
UNO_CLI_ONLY = {
    # Creating an account takes a password on the command line; the device login needs none.
    "register": "creates an account with a password on the command line; this skill logs in with a device code",
    # Rating is about the catalogue at large, not about making images.
    "rate": "rates catalogue tools; this skill only calls the two gpt-image-2 tools",
    # Browsing servers serves discovery; this client is scoped to gpt-image-2 (UNO_ALLOWED_TOOLS).
    "servers": "lists the gateway's tool servers; this client is scoped to gpt-image-2",
    # Minting or deleting keys is account administration an image skill must not do on its own.
    "keys": "creates and deletes API keys, which an image skill should never do on its own",
    # gpt-image-2 needs no third-party authorisation, so there is nothing to disconnect or list.
    "disconnect": "revokes third-party connections; gpt-image-2 needs none",
    "connections": "lists third-party connections; gpt-image-2 needs none",
    "auth": "lists third-party connections; gpt-image-2 needs none",
}


def uno_cli_only(command: str) -> dict[str, Any]:
    return {
        "success": False,
        "error": "not_supported",
        "message": f"`{command}` {UNO_CLI_ONLY[command]}, so this client leaves it to uno-cli.",
        "hint": f"Use uno-cli for it: python3 -m pip install uno-cli==1.0.7, then run: uno {command} --help",
    }


def cmd_logs(ctx: Context, args: argparse.Namespace) -> None:
    """``GET /v1/usage/history`` as uno-cli 1.0.7 prints it: the last N calls of the past 7 days."""
    client = ctx.authed_client()
    body = client.usage_history(limit=args.last or 20, days=USAGE_DAYS, include_search=args.include_search)
    records = body.get("records") if isinstance(body, dict) else body
    compact = [
        {name: record.get(name) for name in LOG_FIELDS} for record in (records or []) if isinstance(record, dict)
    ]
    total = body.get("total", len(compact)) if isinstance(body, dict) else len(compact)
    ok({"records": compact, "total": total, "days": USAGE_DAYS})


def refuse(command: str) -> None:
    fail(uno_cli_only(command))
