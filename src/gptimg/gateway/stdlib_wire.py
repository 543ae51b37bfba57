"""A wire on the standard library's ``http.client``: no pool, nothing to import.

For the agent CLI, where each process makes one or two requests: ``http.client``
is already paid for by Python's own modules, while httpx and its helpers would
cost more than the request itself. One connection per request, closed after.
"""

from __future__ import annotations

import http.client
import socket
import sys
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

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

if TYPE_CHECKING:
    import ssl

_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """The system's trust store, built once and only when an https URL is used."""
    global _tls_context
    import ssl

    with _tls_lock:
        if _tls_context is None:
            _tls_context = ssl.create_default_context()
        return _tls_context


class _Response:
    def __init__(self, connection: http.client.HTTPConnection, response: http.client.HTTPResponse) -> None:
        self._connection = connection
        self._response = response
        self.status_code = response.status
        self.headers = response.msg  # email.message.Message: case-insensitive get()

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        """The body as sent, each chunk as soon as it arrives (``read1``): ``read`` would wait to
        fill ``chunk_size`` bytes, so a body dribbling in a byte a second could hold it for hours."""
        try:
            while True:
                chunk = self._response.read1(chunk_size)
                if not chunk:
                    return
                yield chunk
        except socket.timeout:
            raise WireFailure(READ_TIMEOUT, arrived=True) from None
        except (http.client.HTTPException, OSError) as exc:
            raise WireFailure(DROPPED, arrived=True, detail=type(exc).__name__) from None

    def close(self) -> None:
        self._response.close()
        self._connection.close()


def _is_tls_error(exc: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # loaded already if this was an https connection
    return ssl is not None and isinstance(exc, ssl.SSLError)


def _open(url: str, timeouts: Timeouts) -> tuple[http.client.HTTPConnection, str, dict[str, str]]:
    """A not-yet-connected connection for ``url``, the request target, and headers for a proxy.

    Behind an ``http://`` proxy (``gateway.proxies``): https is tunnelled with CONNECT
    (the proxy sees only the host name; TLS runs end to end), plain http is sent to the
    proxy in absolute form. Loopback hosts and NO_PROXY matches go direct.
    """
    from gptimg.gateway.proxies import proxy_for

    parts = urlsplit(url)
    host = parts.hostname or ""
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    proxy = proxy_for(url)
    auth = {"Proxy-Authorization": proxy.authorization} if proxy is not None and proxy.authorization else {}
    if parts.scheme == "https":
        if proxy is None:
            return http.client.HTTPSConnection(host, parts.port, timeout=timeouts.connect, context=_tls()), target, {}
        tunnelled = http.client.HTTPSConnection(proxy.host, proxy.port, timeout=timeouts.connect, context=_tls())
        tunnelled.set_tunnel(host, parts.port or 443, headers=auth)
        return tunnelled, target, {}
    if proxy is None:
        return http.client.HTTPConnection(host, parts.port, timeout=timeouts.connect), target, {}
    absolute = f"http://{parts.netloc.rpartition('@')[2]}{target}"
    return http.client.HTTPConnection(proxy.host, proxy.port, timeout=timeouts.connect), absolute, auth


class StdlibWire:
    def __init__(self, user_agent: str) -> None:
        self._user_agent = user_agent

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes | None, timeouts: Timeouts
    ) -> _Response:
        connection, target, proxy_headers = _open(url, timeouts)
        try:
            connection.connect()
        except socket.gaierror:
            connection.close()
            raise WireFailure(DNS, arrived=False) from None
        except OSError as exc:
            connection.close()
            if _is_tls_error(exc):
                raise WireFailure(TLS, arrived=False) from None
            if isinstance(exc, socket.timeout):
                raise WireFailure(CONNECT_TIMEOUT, arrived=False) from None
            raise WireFailure(REFUSED, arrived=False, detail=type(exc).__name__) from None
        try:
            assert connection.sock is not None
            connection.sock.settimeout(timeouts.write)
            all_headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity", **proxy_headers, **headers}
            connection.request(method, target, body=content, headers=all_headers)
            connection.sock.settimeout(timeouts.read)
            response = connection.getresponse()
        except socket.timeout:
            connection.close()
            raise WireFailure(READ_TIMEOUT, arrived=True) from None
        except (http.client.HTTPException, OSError) as exc:
            connection.close()
            raise WireFailure(DROPPED, arrived=True, detail=type(exc).__name__) from None
        return _Response(connection, response)

    def close(self) -> None:
        pass
