"""The stub-server base: a client that hangs up mid-answer is not a traceback in the test output."""

from __future__ import annotations

import socket
import threading

import pytest

from stubserver import StubHandler, StubServer


class _BigAnswer(StubServer):
    """Answers every request with 8 MiB, more than any socket buffer, so a gone client breaks the write."""

    def __init__(self) -> None:
        super().__init__()
        self.finished = threading.Event()

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        try:
            handler.send(200, {"Content-Type": "application/octet-stream"}, b"x" * (8 * 1024 * 1024))
        finally:
            self.finished.set()


def test_a_client_that_hangs_up_mid_answer_prints_no_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    with _BigAnswer() as server:
        port = int(server.base_url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            client.recv(1024)  # the answer has started
        assert server.finished.wait(10)
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "BrokenPipe" not in captured.err and "Error" not in captured.err, captured
