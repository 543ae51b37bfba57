"""One connection of the standard-library wire: TCP, a proxy's CONNECT tunnel, TLS, opened as
``http.client.HTTPSConnection.connect`` (3.11) opens them, without importing ``http.client``.

Why ours: importing ``http.client`` (and with it the ``email`` package) was 20-28 ms of
every short process's start-up (``gptimg.http_errors``); the wire already wrote its
requests and read its answers itself (``gateway.http1``). ``ssl`` is imported by the
caller at the first https connection (``stdlib_wire._tls``), never for a plain-http one.
"""

from __future__ import annotations

import errno
import socket

from gptimg.gateway.http1 import BodyResponse
from gptimg.http_errors import MAX_LINE, LineTooLong

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    import ssl


class Tunnel:
    """Where a proxy is asked to CONNECT to, and the headers it is asked with (Proxy-Authorization)."""

    __slots__ = ("host", "port", "headers")

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port, self.headers = host, port, headers


class Connection:
    """A socket to ``host:port`` (the origin, or the proxy), tunnelled and wrapped in TLS as asked.

    ``sock`` is None until ``connect`` and after ``close``; requests are written to it
    and answers read from it by ``stdlib_wire``; idle ones wait in ``gateway.pool``.
    """

    def __init__(self, host: str, port: int, *, timeout: float, tls: ssl.SSLContext | None = None,
                 tunnel: Tunnel | None = None) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self.tls, self.tunnel = tls, tunnel
        self.sock: socket.socket | None = None

    def connect(self) -> None:
        """Open the TCP connection (``TCP_NODELAY``), then the tunnel, then TLS; raises ``OSError``."""
        sock = _create_connection((self.host, self.port), self.timeout)
        self.sock = sock
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            if exc.errno != errno.ENOPROTOOPT:
                raise
        if self.tunnel is not None:
            self._open_tunnel(self.tunnel)
        if self.tls is not None:
            server_name = self.tunnel.host if self.tunnel is not None else self.host
            self.sock = self.tls.wrap_socket(sock, server_hostname=server_name)

    def _open_tunnel(self, tunnel: Tunnel) -> None:
        """``CONNECT host:port``; anything but 200 closes the connection and raises ``OSError`` with the status."""
        assert self.sock is not None
        target = f"[{tunnel.host}]" if ":" in tunnel.host else tunnel.host
        lines = [f"CONNECT {target}:{tunnel.port} HTTP/1.1", f"Host: {target}:{tunnel.port}"]
        lines += [f"{name}: {value}" for name, value in tunnel.headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        answer = BodyResponse(self.sock, "CONNECT")
        try:
            _version, status, reason = answer.read_status()
            if status != 200:
                self.close()
                raise OSError(f"Tunnel connection failed: {status} {reason.strip()}")
            while True:  # the proxy's header block, read and dropped
                line = answer.fp.readline(MAX_LINE + 1) if answer.fp is not None else b""
                if len(line) > MAX_LINE:
                    raise LineTooLong("header line")
                if line in (b"\r\n", b"\n", b""):
                    break
        finally:
            answer.close()

    def close(self) -> None:
        sock, self.sock = self.sock, None
        if sock is not None:
            sock.close()


def _create_connection(address: tuple[str, int], timeout: float) -> socket.socket:
    """``socket.create_connection`` with an ASCII host name handed over as bytes.

    ``getaddrinfo`` encodes a ``str`` host with the ``idna`` codec, whose import
    (``encodings.idna``, ``stringprep``, ``unicodedata``) cost a short-lived agent
    process ~4 M instructions (callgrind); an ASCII name's bytes are the same name.
    """
    host, port = address
    if host.isascii():
        return socket.create_connection((host.encode("ascii"), port), timeout)  # type: ignore[arg-type]
    return socket.create_connection(address, timeout)
