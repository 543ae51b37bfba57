"""A wire on the standard library's sockets, with a keep-alive pool: nothing to import.

httpx (with httpcore, h11, anyio) costs 80-100 ms of CPU to import and, measured against
the sandbox, more CPU per request than this wire (figures in ``gateway.wires``); even
``http.client`` costs 20-28 ms (it imports the email package), so connections are opened
by ``gateway.connection`` and requests and answers framed by ``gateway.http1``, each as
``http.client`` does it. Idle connections are kept per origin and proxy in
``gateway.pool``, which hands one out only when it is provably still usable before
anything is written on it; nothing written is ever sent again here (a failure after
the request went out is ``arrived=True``: a submit may have been charged).
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from gptimg.gateway.connection import Connection, Tunnel
from gptimg.gateway.http1 import JOIN_BODY_BYTES, BodyResponse, host_header, request_bytes
from gptimg.gateway.pool import IdlePool
from gptimg.gateway.proxies import Proxy
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
from gptimg.http_errors import HTTPException, InvalidURL
from gptimg.records import Record

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    import ssl
    from typing import Any

_tls_context: ssl.SSLContext | None = None
_tls_lock = threading.Lock()


def _tls() -> ssl.SSLContext:
    """The system's trust store (``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` honoured), built once and only
    when an https URL is used; certifi's bundle where the system has none (a python.org build on
    macOS before "Install Certificates"), as httpx would have used."""
    global _tls_context
    import ssl

    with _tls_lock:
        if _tls_context is None:
            context = ssl.create_default_context()
            if not _has_system_trust_store(ssl, context):
                try:
                    import certifi

                    context.load_verify_locations(certifi.where())
                except (ImportError, OSError):
                    pass  # nothing better to offer: the handshake will fail as TLS, with its hint
            _tls_context = context
        return _tls_context


def _has_system_trust_store(ssl: Any, context: ssl.SSLContext) -> bool:
    if context.cert_store_stats().get("x509_ca"):
        return True  # loaded already (Windows' store, a CA file)
    paths = ssl.get_default_verify_paths()
    if paths.cafile and os.path.isfile(paths.cafile):
        return True
    return bool(paths.capath and os.path.isdir(paths.capath) and os.listdir(paths.capath))


class _Response:
    def __init__(
        self, wire: StdlibWire, key: Hashable, connection: Connection, response: BodyResponse
    ) -> None:
        self._wire = wire
        self._key = key
        self._connection = connection
        self._response = response
        self._broken = False
        self.status_code = response.status
        self.headers = response.headers  # http1.Headers: case-insensitive get()

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        """The body as sent, each chunk as soon as it arrives (``read1``): ``read`` would wait to
        fill ``chunk_size`` bytes, so a body dribbling in a byte a second could hold it for hours."""
        with self._reading():
            while True:
                chunk = self._response.read1(chunk_size)
                if not chunk:
                    return
                yield chunk

    def readinto1(self, buffer: memoryview) -> int:
        """Body bytes straight into ``buffer`` (one socket read at most); 0 at the end of the body."""
        with self._reading():
            return self._response.readinto1(buffer)

    @contextmanager
    def _reading(self) -> Iterator[None]:
        try:
            yield
        except socket.timeout:
            self._broken = True
            raise WireFailure(READ_TIMEOUT, arrived=True) from None
        except (HTTPException, OSError, ValueError) as exc:
            self._broken = True
            raise WireFailure(DROPPED, arrived=True, detail=type(exc).__name__) from None

    def _reusable(self) -> bool:
        """Read to the end, unbroken, and the server did not ask to close: the connection may serve again."""
        response = self._response
        complete = response.isclosed() or response.length == 0
        return complete and not self._broken and not response.will_close and self._connection.sock is not None

    def close(self) -> None:
        reusable = self._reusable()
        self._response.close()
        if reusable:
            self._wire.pool.give_back(self._key, self._connection)
        else:
            self._connection.close()


def _is_tls_error(exc: BaseException) -> bool:
    ssl = sys.modules.get("ssl")  # loaded already if this was an https connection
    return ssl is not None and isinstance(exc, ssl.SSLError)


class _Origin(Record):
    """How to reach one origin (scheme and netloc): the pool key, the proxy, and the request's fixed parts."""

    key: Hashable
    proxy_headers: dict[str, str]
    scheme: str
    host: str
    port: int | None
    proxy: Proxy | None
    #: The ``Host`` header, as ``http.client`` would write it.
    host_header: str
    #: Put before the path: ``http://netloc`` for a plain-http proxy (absolute form), else empty.
    target_prefix: str


class _Route(Record):
    """Where a request goes: its origin and the request target."""

    origin: _Origin
    target: str


#: Origins remembered per wire (the gateway, its download host or two); past this the memo starts over.
MAX_ORIGINS = 64


def _origin(scheme: str, netloc: str) -> _Origin:
    """Behind an ``http://`` proxy (``gateway.proxies``): https is tunnelled with CONNECT
    (the proxy sees only the host name; TLS runs end to end), plain http is sent to the
    proxy in absolute form. Loopback hosts and NO_PROXY matches go direct.
    """
    from gptimg.gateway.proxies import proxy_for

    parts = urlsplit(f"{scheme}://{netloc}/")
    host = parts.hostname or ""
    proxy = proxy_for(f"{scheme}://{netloc}/")
    key = (scheme, host, parts.port, proxy)
    default_port = 443 if scheme == "https" else 80
    if scheme == "https" or proxy is None:
        return _Origin(key, {}, scheme, host, parts.port, proxy, host_header(host, parts.port, default_port), "")
    auth = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
    bare = netloc.rpartition("@")[2]
    try:
        bare.encode("ascii")
        absolute_host = bare
    except UnicodeEncodeError:
        absolute_host = bare.encode("idna").decode("ascii")
    return _Origin(key, auth, scheme, host, parts.port, proxy, absolute_host, f"http://{bare}")


def _new_connection(route: _Origin, timeouts: Timeouts) -> Connection:
    """A not-yet-connected connection for ``route`` (to the proxy when there is one)."""
    proxy = route.proxy
    if route.scheme == "https":
        if proxy is None:
            return Connection(route.host, route.port or 443, timeout=timeouts.connect, tls=_tls())
        auth = {"Proxy-Authorization": proxy.authorization} if proxy.authorization else {}
        return Connection(proxy.host, proxy.port, timeout=timeouts.connect, tls=_tls(),
                          tunnel=Tunnel(route.host, route.port or 443, auth))
    if proxy is None:
        return Connection(route.host, route.port or 80, timeout=timeouts.connect)
    return Connection(proxy.host, proxy.port, timeout=timeouts.connect)


def _connect(connection: Connection) -> None:
    """Open the connection; every failure here is before a byte of the request was written."""
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


#: A request this small goes out without blocking: a connected socket's send buffer is at least
#: 4 KiB (Linux's minimum ``tcp_wmem``) and empty between requests (the last answer was read whole).
UNBLOCKED_SEND_BYTES = 4096


def _set_timeout(sock: socket.socket, seconds: float) -> None:
    """``settimeout`` only when it changes: each call is an ``ioctl``, even to the same value."""
    if sock.gettimeout() != seconds:
        sock.settimeout(seconds)


_PLAIN_SOCKET = socket.socket
_WRITES_TO_SOCKETS = os.name == "posix"


def _send_small(sock: socket.socket, data: bytes) -> None:
    """Send a request that fits an idle send buffer, in one system call where the OS allows.

    ``sendall`` on a socket with a timeout polls for room before each ``send``: with the
    buffer empty (``UNBLOCKED_SEND_BYTES``) that poll always answers at once, yet it is one
    more system call, and one more hand-over of the GIL among a batch's threads, per
    request. A plain TCP socket's descriptor (non-blocking in timeout mode) takes the
    bytes with ``os.write``; whatever it did not take goes through ``sendall`` as before.
    TLS sockets (their bytes must be encrypted) and Windows (sockets are not descriptors)
    keep ``sendall``.
    """
    sent = 0
    if _WRITES_TO_SOCKETS and type(sock) is _PLAIN_SOCKET:
        try:
            sent = os.write(sock.fileno(), data)
        except BlockingIOError:
            sent = 0
        if sent == len(data):
            return
    sock.sendall(memoryview(data)[sent:] if sent else data)


class StdlibWire:
    """Sockets with an idle pool (``gateway.pool``); safe to share between threads."""

    def __init__(self, user_agent: str, *, max_idle: int = 100) -> None:
        self._user_agent = user_agent
        self.pool = IdlePool(max_idle)
        self._origins: dict[tuple[str, str], _Origin] = {}
        self._origins_lock = threading.Lock()

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes | None, timeouts: Timeouts
    ) -> _Response:
        """Send once, on an idle connection that passed ``IdlePool.take``'s checks or on a fresh one.

        Never sent twice: once the request may have been written, any failure is
        ``arrived=True`` and is raised, whether the connection was fresh or reused.
        """
        route = self._route(url)
        origin = route.origin
        all_headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity", **origin.proxy_headers, **headers}
        try:  # checked before a connection is taken: an injected CR/LF never reaches a socket
            head = request_bytes(method, route.target, origin.host_header, all_headers, content)
        except InvalidURL as exc:  # as http.client answered it: outcome unknown to the caller
            raise WireFailure(DROPPED, arrived=True, detail=type(exc).__name__) from None
        connection = self.pool.take(origin.key)
        if connection is None:
            connection = _new_connection(origin, timeouts)
            _connect(connection)
        try:
            sock = connection.sock
            assert sock is not None
            if len(head) > UNBLOCKED_SEND_BYTES or len(content or b"") > JOIN_BODY_BYTES:
                _set_timeout(sock, timeouts.write)
                sock.sendall(head)
            else:  # fits any idle send buffer: cannot block, so no write timeout to set (an ioctl)
                _set_timeout(sock, timeouts.read)
                _send_small(sock, head)
            if content is not None and len(content) > JOIN_BODY_BYTES:
                sock.sendall(content)
            _set_timeout(sock, timeouts.read)
            response = BodyResponse(sock, method=method)
            response.begin()
        except socket.timeout:
            connection.close()
            raise WireFailure(READ_TIMEOUT, arrived=True) from None
        except (HTTPException, OSError) as exc:
            connection.close()
            raise WireFailure(DROPPED, arrived=True, detail=type(exc).__name__) from None
        return _Response(self, origin.key, connection, response)

    def _route(self, url: str) -> _Route:
        """The request target and its origin; an origin's proxy is decided at the wire's first request to it."""
        parts = urlsplit(url)
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        scheme = parts.scheme.lower()
        origin = self._origins.get((scheme, parts.netloc))
        if origin is None:
            origin = _origin(scheme, parts.netloc)
            with self._origins_lock:
                if len(self._origins) >= MAX_ORIGINS:
                    self._origins.clear()
                self._origins[(scheme, parts.netloc)] = origin
        return _Route(origin, origin.target_prefix + target)

    def close(self) -> None:
        self.pool.close()
