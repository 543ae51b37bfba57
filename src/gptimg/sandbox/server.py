"""The sandbox's lifecycle: binding its listeners, serving them on threads, and stopping them fast.

Why the standard library and not an ASGI framework: the sandbox must start
with zero extra dependencies (it is the project's offline default), its
traffic is a few requests a second plus some long-polls, and a thread per
connection makes "hold this request until the job ends" a plain
``Condition.wait``. ``daemon_threads`` keeps stuck clients from blocking
shutdown; ``request_queue_size`` is raised so a burst of 100+ concurrent
long-polls is accepted instead of refused at the socket backlog.

The routes live in :mod:`handler` and the ``routes_*`` modules; this module
owns only :class:`SandboxGateway`, the object callers start, query and stop.
"""

from __future__ import annotations

import socket
import socketserver
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

from .config import SandboxConfig, check_loopback, url_host
from .handler import SandboxHandler
from .state import SandboxState

__all__ = ["SandboxGateway", "SandboxHandler"]


class _SandboxHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, host: str, port: int, gateway: SandboxGateway, role: str) -> None:
        self.address_family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
        self.gateway = gateway
        #: "gateway" serves the API; "cdn" serves only image files (the separate-origin stand-in).
        self.role = role
        #: Set by stop(): every answer from then on says Connection: close and ends its connection.
        self.stopping = False
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__((host.strip("[]"), port), SandboxHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def end_connections(self) -> None:
        """Stop reading from every open connection, so a stopped sandbox answers nothing more.

        Keep-alive clients hold connections open between requests; without this, a handler
        thread idle on one would go on serving it — submits and charges included — after
        ``stop()``. Only the reading side is shut: an answer being written (a long-poll that
        ``stop()`` just woke) still goes out, with ``Connection: close``; a request that still
        gets read (Linux queues data even after SHUT_RD) is dropped unanswered by the handler.
        """
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RD)
            except OSError:
                pass  # already closed by its handler

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can hang offline.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


def _shut_down_now(server: _SandboxHTTPServer) -> None:
    """``server.shutdown()`` without waiting out the serve loop's poll interval.

    ``shutdown`` only raises a flag that ``serve_forever`` checks between polls, so
    it took up to 100 ms, the largest part of stopping the embedded sandbox after
    every ``generate --sandbox``. A connection to the listener wakes the loop at once.
    """
    stopper = threading.Thread(target=server.shutdown, daemon=True)
    stopper.start()
    host, port = server.server_address[:2]
    for _ in range(10):  # a wake-up can come before the flag is up; another one then
        try:
            socket.create_connection((str(host), int(port)), timeout=1).close()
        except OSError:
            break  # not accepting: the poll interval ends it all the same
        stopper.join(0.01)
        if not stopper.is_alive():
            return
    stopper.join()


class SandboxGateway:
    """A running sandbox: ``with SandboxGateway(SandboxConfig(delay=0.2)) as sb: ... sb.base_url``."""

    def __init__(self, config: SandboxConfig | None = None) -> None:
        self.config = config or SandboxConfig()
        check_loopback(self.config.host)
        self.state = SandboxState(self.config)
        self._servers: list[_SandboxHTTPServer] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False

    def start(self) -> SandboxGateway:
        """Bind (main listener, and the CDN one if asked) and serve on daemon threads."""
        with self._lock:
            if self._servers:
                return self
            if self._stopped:
                raise RuntimeError("a stopped sandbox cannot be restarted; create a new SandboxGateway")
            servers = [_SandboxHTTPServer(self.config.host, self.config.port, self, "gateway")]
            try:
                if self.config.separate_cdn:
                    servers.append(_SandboxHTTPServer(self.config.host, 0, self, "cdn"))
            except OSError:
                servers[0].server_close()
                raise
            self._servers = servers
            for server in servers:
                thread = threading.Thread(
                    target=server.serve_forever, kwargs={"poll_interval": 0.1},
                    name=f"sandbox-{server.role}", daemon=True,
                )
                thread.start()
                self._threads.append(thread)
            return self

    def _origin(self, server: _SandboxHTTPServer) -> str:
        return f"http://{url_host(self.config.host)}:{server.server_address[1]}"

    @property
    def port(self) -> int:
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return int(self._servers[0].server_address[1])

    @property
    def base_url(self) -> str:
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return self._origin(self._servers[0])

    @property
    def image_base_url(self) -> str:
        """Origin of image URLs: the CDN listener when ``separate_cdn``, else the gateway itself."""
        if not self._servers:
            raise RuntimeError("the sandbox is not running")
        return self._origin(self._servers[-1])

    def create_account(self, name: str = "Test User", email: str | None = None,
                       credits: int | None = None) -> str:
        """A fresh API key; a new ``email`` makes a new account (with ``credits`` or the default)."""
        if email is None:
            email = f"user-{time.monotonic_ns():x}-{threading.get_ident():x}@example.invalid"
        return self.state.create_account(name, email, credits)

    def stats(self) -> dict[str, Any]:
        return self.state.stats()

    def stop(self) -> None:
        """Wake long-polls, stop accepting, end open keep-alive connections. Safe to call twice."""
        with self._lock:
            servers, self._servers = self._servers, []
            threads, self._threads = self._threads, []
            self._stopped = self._stopped or bool(servers)
        if not servers:
            return
        for server in servers:
            server.stopping = True
        self.state.stop()
        for server in servers:
            _shut_down_now(server)
            server.server_close()
            server.end_connections()
        for thread in threads:
            thread.join(timeout=5)

    def __enter__(self) -> SandboxGateway:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
