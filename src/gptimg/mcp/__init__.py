"""``gptimg mcp``: gpt-image-2 as an MCP server on stdio, with the spending rule built into the protocol.

The server lives behind an optional extra (``pip install 'gptimg[mcp]'``, Python
3.10+), so nothing here imports the MCP SDK: ``gptimg --version`` and every other
command start without it. :func:`sdk_problem` says, in one line, why the server
cannot start on this interpreter; :mod:`gptimg.mcp.server` is imported only once
it returned None.
"""

from __future__ import annotations

import sys

INSTALL_COMMAND = "pip install 'gptimg[mcp]'"
#: The official SDK's own floor (its 2.x line needs 3.10).
MIN_PYTHON = (3, 10)


def sdk_problem() -> str | None:
    """None when the MCP SDK is importable here; otherwise the one line to print (with the fix)."""
    if sys.version_info < MIN_PYTHON:
        here = ".".join(str(part) for part in sys.version_info[:2])
        return (
            f"gptimg mcp needs Python 3.10 or newer (the MCP SDK does); this is Python {here}. "
            f"Run it with a newer Python: {INSTALL_COMMAND}"
        )
    try:
        import mcp.server.mcpserver  # noqa: F401
    except ImportError:
        return f"gptimg mcp needs the MCP SDK, which is not installed. Install it with: {INSTALL_COMMAND}"
    return None
