"""httpx, imported and configured for a fast start.

Two costs dominate a short agent call, and neither buys anything there:

* ``import httpx`` also imports its own command-line tool (``httpx._main``), which
  pulls in click and rich: about 100 ms. We pre-register a small stand-in that
  loads the real module only if someone actually runs httpx's CLI.
* Building a client loads a CA bundle (about 150 ms) even when every request goes
  to the sandbox over plain HTTP on loopback. TLS is therefore set up on the first
  https request instead.
"""

from __future__ import annotations

import os
import sys
import threading
import types
from typing import Any


def _install_lazy_httpx_main() -> None:
    if "httpx" in sys.modules or "httpx._main" in sys.modules:
        return
    stand_in = types.ModuleType("httpx._main")

    def main(*args: Any, **kwargs: Any) -> Any:
        del sys.modules["httpx._main"]
        import importlib

        return importlib.import_module("httpx._main").main(*args, **kwargs)

    stand_in.main = main  # type: ignore[attr-defined]
    sys.modules["httpx._main"] = stand_in


_install_lazy_httpx_main()

import httpx  # noqa: E402


class LazyTLSTransport(httpx.BaseTransport):
    """An ``HTTPTransport`` whose TLS context (and CA bundle) is built on first use."""

    def __init__(self, **kwargs: Any) -> None:
        self._kwargs = kwargs
        self._inner: httpx.HTTPTransport | None = None
        self._lock = threading.Lock()

    def _transport(self) -> httpx.HTTPTransport:
        if self._inner is None:
            with self._lock:
                if self._inner is None:
                    self._inner = httpx.HTTPTransport(**self._kwargs)
        return self._inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        return self._transport().handle_request(request)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def build_http_client(*, max_connections: int, user_agent: str) -> httpx.Client:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if any(os.environ.get(name) for name in _PROXY_VARIABLES):
        # Behind a proxy: let httpx read the environment as usual; the fast path below ignores it.
        return httpx.Client(limits=limits, headers={"User-Agent": user_agent}, follow_redirects=False)
    plain = httpx.HTTPTransport(verify=False, limits=limits)  # used for http:// only: no TLS ever happens
    secure = LazyTLSTransport(limits=limits)
    return httpx.Client(
        transport=plain,
        mounts={"https://": secure},
        headers={"User-Agent": user_agent},
        follow_redirects=False,
        trust_env=False,
    )


__all__ = ["httpx", "build_http_client", "LazyTLSTransport"]
