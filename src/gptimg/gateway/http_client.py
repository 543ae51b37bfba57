"""``http.client`` for the standard-library wire, with ``ssl`` loaded at the first https connection.

``http.client`` imports ``ssl`` when it is imported, only to define ``HTTPSConnection``:
25 M instructions (callgrind), a tenth of an agent call (``bin/uno.py whoami``) that
talks plain http (a sandbox, a local gateway, an http:// proxy's first leg) and never
uses it. So ``http.client`` is imported here while ``sys.modules["ssl"]`` holds a
stand-in, which is removed again at once: only ``http.client``'s own ``ssl`` name
refers to it, and every other ``import ssl`` in the process gets the real module as
usual. The stand-in's first attribute lookup (``HTTPSConnection`` reads
``ssl._create_default_https_context`` and friends; ``stdlib_wire._tls`` has imported
ssl by then anyway) imports the real ``ssl`` and takes its namespace, so from then on
``http.client`` sees exactly the real module.

Against the real gateway (https) both clients import ssl at the first connection, this
one and uno-cli alike; the saving is for plain-http origins only.

Modules use ``from gptimg.gateway.http_client import http`` and then ``http.client`` as
before. If ``http.client`` (or ``ssl``) was imported before this module, nothing is
changed: the stand-in is only ever seen by an ``http.client`` that this module imports.
"""

from __future__ import annotations

import importlib
import sys
import types


class _SslOnFirstUse(types.ModuleType):
    """What ``http.client`` holds as ``ssl`` until an https connection reads from it."""

    def __getattr__(self, name: str) -> object:
        if sys.modules.get("ssl") is self:  # read while http.client is still being imported
            del sys.modules["ssl"]
        real = importlib.import_module("ssl")  # thread-safe: the import system's own module lock
        self.__dict__.update(real.__dict__)  # later lookups are plain attribute reads
        return getattr(real, name)


def _import_http_client() -> None:
    if "http.client" in sys.modules or "ssl" in sys.modules:
        return  # already paid for (or ssl already loaded): import http.client as it is
    stand_in = _SslOnFirstUse("ssl")
    sys.modules["ssl"] = stand_in
    try:
        import http.client  # noqa: F401 - binds its module-level ``ssl`` to the stand-in
    finally:
        if sys.modules.get("ssl") is stand_in:
            del sys.modules["ssl"]


_import_http_client()

import http.client  # noqa: E402 - the real module object, loaded above

__all__ = ["http"]
