"""A local, protocol-faithful fake of the Uno tool gateway, for offline use, demos and end-to-end tests.

It speaks the contract in ``gateway-protocol.md`` well enough that the official
uno-cli cannot tell it from the real gateway: device-code login, account and
credits, the tool catalogue, uploads, and the two gpt-image-2 tools, whose
"generated" images are real PNGs served from loopback.

Standard library only, and importing this package loads nothing heavier
than ``http.server``, so the offline default costs no extra dependencies.

In-process use::

    with SandboxGateway(SandboxConfig(delay=0.2)) as sb:
        key = sb.create_account(email="a@example.invalid")
        ...  # talk to sb.base_url
"""

from __future__ import annotations

from .cli import main, serve
from .config import NonLoopbackHost, SandboxConfig, is_loopback_host
from .server import SandboxGateway

__all__ = ["NonLoopbackHost", "SandboxConfig", "SandboxGateway", "is_loopback_host", "main", "serve"]
