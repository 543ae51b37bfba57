"""The httpx wire: used only where the standard-library wire cannot go (a ``socks5://`` proxy; see
``gateway.wires`` for why every other process uses that one), and by unit tests that mock HTTP with respx.
Set up for a fast start; these costs buy nothing for a short call:

* ``import httpx`` also imports its own command-line tool (``httpx._main``), which
  pulls in click and rich: about 100 ms. We pre-register a small stand-in that
  loads the real module only if someone actually runs httpx's CLI.
* Building a client loads a CA bundle (about 150 ms) even when every request goes
  to the sandbox over plain HTTP on loopback. TLS is therefore set up on the first
  https request instead.
* httpcore imports ``trio`` and ``anyio`` (when installed) for its async locks, and
  ``certifi`` for its default TLS context: about 150 ms on a machine that has trio,
  for a sync client that never touches them. While httpx loads, those names point
  at stand-ins that import the real module on first attribute access, so async
  users of httpx in the same process still get the real thing.
"""

from __future__ import annotations

import ssl
import sys
import threading
import types
from collections.abc import Iterator
from typing import Any

from gptimg.gateway.proxies import any_proxy_configured
from gptimg.gateway.wire import (
    CONNECT_TIMEOUT,
    DNS,
    DROPPED,
    READ_TIMEOUT,
    REFUSED,
    TLS,
    Timeouts,
    WireFailure,
)


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


class _DeferredModule(types.ModuleType):
    """Stands in for a module that httpcore imports but a sync client never uses.

    Any attribute access (``anyio.Lock``, ``certifi.where``) imports the real module
    and answers from it, so code holding the stand-in behaves as if it had the module.
    """

    def __getattr__(self, attr: str) -> Any:
        import importlib

        if sys.modules.get(self.__name__) is self:
            del sys.modules[self.__name__]
        return getattr(importlib.import_module(self.__name__), attr)


#: Imported by httpcore at load time, used only for async locks and the default TLS context.
_DEFERRED = ("trio", "anyio", "certifi")


def _import_httpx() -> types.ModuleType:
    """``import httpx`` with the modules in ``_DEFERRED`` deferred; they are real again afterwards."""
    import importlib.util

    deferred = [
        name
        for name in _DEFERRED
        if name not in sys.modules and "httpcore" not in sys.modules and importlib.util.find_spec(name) is not None
    ]
    for name in deferred:
        sys.modules[name] = _DeferredModule(name)
    try:
        import httpcore  # noqa: F401  (httpx loads it lazily; load it while the stand-ins are up)
        import httpx

        return httpx
    finally:
        for name in deferred:
            if isinstance(sys.modules.get(name), _DeferredModule):
                del sys.modules[name]


httpx = _import_httpx()


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


def build_http_client(*, max_connections: int, user_agent: str) -> httpx.Client:
    limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    if any_proxy_configured():
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


_DNS_MARKERS = (
    "name or service not known",
    "nodename nor servname",
    "temporary failure in name resolution",
    "getaddrinfo failed",
    "no address associated",
    "name resolution",
)
_TLS_MARKERS = ("ssl", "certificate", "tls")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify(exc: httpx.TransportError) -> WireFailure:
    """Which kind of "no answer" an httpx exception is, and whether the request may have arrived."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return WireFailure(CONNECT_TIMEOUT, arrived=False)
    if isinstance(exc, httpx.TimeoutException):
        return WireFailure(READ_TIMEOUT, arrived=True)
    if isinstance(exc, httpx.ConnectError):
        text = " ".join(str(e).lower() for e in _chain(exc))
        if any(isinstance(e, ssl.SSLError) for e in _chain(exc)) or any(m in text for m in _TLS_MARKERS):
            return WireFailure(TLS, arrived=False)
        if any(m in text for m in _DNS_MARKERS):
            return WireFailure(DNS, arrived=False)
        return WireFailure(REFUSED, arrived=False)
    return WireFailure(DROPPED, arrived=True, detail=type(exc).__name__)


class _Response:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response
        self.status_code = response.status_code
        self.headers = response.headers

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        """The body as sent, not decoded (``gateway.bodies`` decodes it within its caps), each piece
        as it arrives: with a ``chunk_size`` httpx would hold bytes back until that many came, so a
        body dribbling in a byte a second would never reach the deadline check. httpcore reads at
        most 64 KiB at a time, so pieces stay small."""
        del chunk_size
        try:
            yield from self._response.iter_raw()
        except httpx.TransportError as exc:
            raise classify(exc) from None

    def close(self) -> None:
        self._response.close()


class HttpxWire:
    """One httpx client (one connection pool) for the whole process."""

    def __init__(self, *, max_connections: int, user_agent: str, client: httpx.Client | None = None) -> None:
        self._client = client or build_http_client(max_connections=max_connections, user_agent=user_agent)

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes | None, timeouts: Timeouts
    ) -> _Response:
        request = self._client.build_request(
            method,
            url,
            content=content,
            headers=headers,
            timeout=httpx.Timeout(
                connect=timeouts.connect,
                read=timeouts.read,
                write=timeouts.write,
                pool=timeouts.read + timeouts.connect,
            ),
        )
        try:
            return _Response(self._client.send(request, stream=True))
        except httpx.TransportError as exc:
            raise classify(exc) from None

    def close(self) -> None:
        self._client.close()


__all__ = ["HttpxWire", "LazyTLSTransport", "build_http_client", "classify", "httpx"]
