"""gptimg: OpenAI gpt-image-2 through the Uno tool gateway, for people and for agents.

This module imports nothing on purpose: ``bin/uno.py --version`` and ``call --dry-run``
must start without loading httpx, rich or typer.
"""

__version__ = "0.1.0"
