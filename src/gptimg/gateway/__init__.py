"""The network layer: one client per process, its policy, its wire, and the mapping of failures onto ``gptimg.errors``."""

from __future__ import annotations

from gptimg.gateway.answers import DownloadInfo, ToolResult, flatten_mcp
from gptimg.gateway.client import GatewayClient
from gptimg.gateway.retry import BackoffGate, RetryPolicy
from gptimg.gateway.urls import DEFAULT_BASE_URL, base_url_warnings, resolve_base_url

__all__ = [
    "DEFAULT_BASE_URL",
    "BackoffGate",
    "DownloadInfo",
    "GatewayClient",
    "RetryPolicy",
    "ToolResult",
    "base_url_warnings",
    "flatten_mcp",
    "resolve_base_url",
]
