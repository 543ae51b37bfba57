"""Importing this module registers every command on the app (one module per command group)."""

from gptimg.cli import (  # noqa: F401
    account_cmds,
    batch_cmd,
    gallery_cmd,
    generate_cmd,
    history_cmds,
    jobs_cmds,
    mcp_cmd,
    sandbox_cmd,
    skill_cmd,
    styles_cmd,
    usage_cmd,
)
