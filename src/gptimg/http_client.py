"""``http.client`` for the standard-library wire, with ``ssl`` loaded at the first https connection.

``http.client`` imports ``ssl`` when it is imported, only to define ``HTTPSConnection``:
25 M instructions (callgrind), a tenth of an agent call (``bin/uno.py whoami``) that
talks plain http (a sandbox, a local gateway) and never uses it. So ``http.client`` is
imported here with ``ssl`` loaded on first use (``gptimg.lazy_modules``): the first
https connection (``HTTPSConnection`` reads ``ssl._create_default_https_context`` and
friends; ``stdlib_wire._tls`` has imported ssl by then anyway) loads the real module.

Against the real gateway (https) both clients import ssl at the first connection, this
one and uno-cli alike; the saving is for plain-http origins only.

Every module of ours that uses ``http.client`` imports it as ``from gptimg.http_client import
http`` and then writes ``http.client`` as before: one plain ``import http.client`` loaded first
anywhere on a path brings ssl back (tests/e2e/test_agent_cli_start.py would say so). If
``http.client`` was imported before this module, it is used as it is.
"""

from __future__ import annotations

from gptimg.lazy_modules import loaded_on_first_use

with loaded_on_first_use("ssl"):
    import http.client  # noqa: F401 - binds its module-level ``ssl`` to the stand-in

__all__ = ["http"]
