"""Importing this module registers every command on the app (one module per command group)."""

from gptimg.cli import batch_cmd, sandbox_cmd, styles_cmd  # noqa: F401
