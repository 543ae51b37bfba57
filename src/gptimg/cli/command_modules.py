"""Which module registers which command, so a command line loads only the command it runs.

Importing ``gptimg.cli.commands`` registers all of them: eleven modules and what they
import, which ``gptimg generate`` or ``gptimg styles`` then pays for on every start. When
the line names a known command before anything but the global ``--json`` and
``--base-url URL``, only that command's module is imported; for help, completion, a typo
or anything else, all of them are, so those answer exactly as before.
"""

from __future__ import annotations

import importlib

#: Command (or command group) name -> the module under ``gptimg.cli`` that registers it.
#: tests/cli/test_startup.py checks this against what ``gptimg.cli.commands`` registers.
COMMAND_MODULES = {
    "login": "account_cmds", "logout": "account_cmds", "accounts": "account_cmds", "use": "account_cmds",
    "whoami": "account_cmds", "batch": "batch_cmd", "gallery": "gallery_cmd", "generate": "generate_cmd",
    "info": "history_cmds", "again": "history_cmds", "jobs": "jobs_cmds", "result": "jobs_cmds",
    "mcp": "mcp_cmd", "sandbox": "sandbox_cmd", "skill": "skill_cmd", "styles": "styles_cmd",
    "usage": "usage_cmd",
}


def named_command(args: list[str]) -> str | None:
    """The command ``args`` runs, if only global options (``--json``, ``--base-url URL``) come before it."""
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--json" or arg.startswith("--base-url="):
            i += 1
        elif arg == "--base-url":
            i += 2
        else:
            return arg if arg in COMMAND_MODULES else None
    return None


def register_commands(args: list[str]) -> None:
    """Register the command ``args`` names, or every command when it names none."""
    command = named_command(args)
    if command is None:
        importlib.import_module("gptimg.cli.commands")
    else:
        importlib.import_module(f"gptimg.cli.{COMMAND_MODULES[command]}")
