"""The one base for the test suite's stub HTTP servers (scripted gateways, the fault proxy).

Each runs a ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port in a daemon
thread, reads every request whole, and hands it to ``answer``. Connections are kept
alive (HTTP/1.1) and counted, and three knobs make a hostile keep-alive server for the
wire's pool: ``close_after_answer`` (hang up after each answer without saying
``Connection: close``), ``idle_timeout`` (hang up on a connection idle that long) and
``cut_body`` (read part of a request's body, then reset the connection). A client that hangs
up first (a CLI killed by a signal test, a reset the proxy itself caused) is not an
error worth a traceback in the test output, so it is swallowed here, once.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional

#: The peer went away mid-answer (a broken pipe, a reset, a timeout): expected whenever a test
#: kills or resets a client, so never a traceback in the test output.
CLIENT_GONE = (OSError,)


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], CLIENT_GONE):
            return
        super().handle_error(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        """Count the connection as closed only once its socket is (a FIN or RST is on its way)."""
        try:
            super().shutdown_request(request)
        finally:
            self.RequestHandlerClass.stub.connection_closed()  # type: ignore[attr-defined]


class StubHandler(BaseHTTPRequestHandler):
    """Reads the request, then calls ``self.stub.answer(self, method, path, headers, body)``."""

    protocol_version = "HTTP/1.1"
    stub: StubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def setup(self) -> None:
        if self.stub.idle_timeout is not None:
            self.timeout = self.stub.idle_timeout  # socketserver applies it to every read
        super().setup()
        self.stub.connection_opened()

    def hang_up(self) -> None:
        """Close the connection with an RST, answering nothing more."""
        import socket

        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        cut = self.stub.cut_body(self.command, self.path) if self.stub.cut_body is not None else None
        if cut is not None and length > cut:
            self.rfile.read(cut)
            self.hang_up()
            return
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            self.stub.answer(self, self.command, self.path, headers, body)
        except CLIENT_GONE:
            self.close_connection = True
        if self.stub.close_after_answer:
            self.close_connection = True  # and no "Connection: close" was said

    do_GET = do_POST = do_DELETE = do_PUT = _handle  # noqa: N815 - stdlib naming

    def send(
        self, status: int, headers: dict[str, str], payload: bytes, *, drip: float = 0.0,
        until: threading.Event | None = None,
    ) -> None:
        """One complete answer with an exact Content-Length (``headers`` must not carry one).

        ``drip``: seconds between body bytes (a server answering a byte at a time); stops
        early once ``until`` (default: the server stopping) is set.
        """
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if not drip:
            self.wfile.write(payload)
            return
        stop = until or self.stub.stopping
        for index in range(len(payload)):
            self.wfile.write(payload[index:index + 1])
            self.wfile.flush()
            if stop.wait(drip):
                return


class StubServer:
    """Subclasses implement ``answer``; ``with Sub(...) as server: server.base_url``."""

    name = "stub-server"

    def __init__(self, *, idle_timeout: float | None = None) -> None:
        self._lock = threading.Lock()
        #: Hang up each connection once its answer is sent, without a ``Connection: close`` header.
        self.close_after_answer = False
        #: Hang up a keep-alive connection after this many idle seconds (None: keep it).
        self.idle_timeout = idle_timeout
        #: ``cut_body(method, path)``: read only that many body bytes, then reset (None: read it all).
        self.cut_body: Optional[Callable[[str, str], Optional[int]]] = None
        #: Connections accepted and closed so far; ``wait_closed`` waits on the latter.
        self.connections_opened = 0
        self.connections_closed = 0
        self._changed = threading.Condition(self._lock)
        #: Set by ``stop``: anything still answering slowly lets go.
        self.stopping = threading.Event()
        handler = type("Handler", (StubHandler,), {"stub": self})
        self._server = _QuietServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name=self.name, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        raise NotImplementedError

    def connection_opened(self) -> None:
        with self._changed:
            self.connections_opened += 1

    def connection_closed(self) -> None:
        with self._changed:
            self.connections_closed += 1
            self._changed.notify_all()

    def wait_closed(self, count: int, timeout: float = 10.0) -> bool:
        """Wait until the server has closed ``count`` connections in all (True), or ``timeout`` passed."""
        with self._changed:
            return self._changed.wait_for(lambda: self.connections_closed >= count, timeout)

    def start(self) -> Any:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
