"""Importing this module registers every command on the app (one module per command group)."""

from gptimg.cli import account_cmds, batch_cmd, generate_cmd, jobs_cmds, mcp_cmd, sandbox_cmd, styles_cmd  # noqa: F401
