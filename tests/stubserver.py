"""The one base for the test suite's stub HTTP servers (scripted gateways, the fault proxy).

Each runs a ``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port in a daemon
thread, reads every request whole, and hands it to ``answer``. A client that hangs
up first (a CLI killed by a signal test, a reset the proxy itself caused) is not an
error worth a traceback in the test output, so it is swallowed here, once.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class StubHandler(BaseHTTPRequestHandler):
    """Reads the request, then calls ``self.stub.answer(self, method, path, headers, body)``."""

    protocol_version = "HTTP/1.1"
    stub: StubServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            self.stub.answer(self, self.command, self.path, headers, body)
        except CLIENT_GONE:
            self.close_connection = True

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

    def __init__(self) -> None:
        self._lock = threading.Lock()
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
