"""The sandbox reads request heads itself (for speed); it must read them exactly as http.server would."""

from __future__ import annotations

import http.client
import io
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import pytest

from gptimg import http_errors
from gptimg.sandbox import SandboxGateway
from gptimg.sandbox.request_head import MAX_HEADERS, read_header_block

BLOCKS = [
    b"\r\n",
    b"Host: a\r\nContent-Length: 10\r\nAuthorization: Bearer uno_x\r\n\r\n",
    b"Host: a\nX-Lf-Only: yes\n\n",
    b"X-Spaces:    padded value   \r\nX-Tab:\tv\r\nX-Empty:\r\nX-Colon: a:b:c\r\n\r\n",
    b"Dup: one\r\nDup: two\r\ndup: three\r\n\r\n",
    b"X-Folded: first\r\n  second\r\nHost: a\r\n\r\n",
    b"Host: a\r\nno colon here\r\nX-After: lost?\r\n\r\n",
    b" Leading: blank\r\nHost: a\r\n\r\n",
    b": no name\r\nHost: a\r\n\r\n",
    b"Bad Name: space\r\nHost: a\r\n\r\n",
    b"From me: odd\r\nHost: a\r\n\r\n",
    b"X-Cr: a\rb\r\nHost: a\r\n\r\n",
    b"X-Latin: caf\xe9\r\nHost: a\r\n\r\n",
    b"Connection: close\r\nExpect: 100-continue\r\n\r\n",
    b"Host: a\r\n",  # the stream ends before the blank line
    b"X-Trail: value  \t \r\nX-Lead:\t\t v\r\nX-Only-Blanks: \t \r\n\r\n",
    b"Host: a\r\nX-Lf: b\nX-After: c\r\n\r\n",  # one bare LF among CRLF lines
    b"Host: a\r\n\nX-Not-A-Header: body\r\n\r\n",  # a bare-LF blank line ends the block early
    b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS - 1)) + b"\r\n",  # the most http.client takes
]
#: A body that itself holds a blank line and header-like text: never read as headers.
TAILS = [b"BODY", b"\r\n\r\nX-Body: not a header\r\n\r\n"]


@pytest.mark.parametrize("buffered", [False, True], ids=["stream", "buffered"])
@pytest.mark.parametrize("tail", TAILS, ids=["body", "body-with-blank-line"])
@pytest.mark.parametrize("block", BLOCKS)
def test_header_block_reads_as_the_standard_library_reads_it(block: bytes, tail: bytes, buffered: bool) -> None:
    """``buffered``: a socket's reader, whose whole head can be peeked and parsed in one piece."""
    ours_stream = io.BufferedReader(io.BytesIO(block + tail)) if buffered else io.BytesIO(block + tail)
    theirs_stream = io.BytesIO(block + tail)
    ours = read_header_block(ours_stream)
    theirs = http.client.parse_headers(theirs_stream)
    assert isinstance(ours, http.client.HTTPMessage)
    assert ours.items() == theirs.items()
    assert ours.get("Host") == theirs.get("Host") and ours.get_all("Dup") == theirs.get_all("Dup")
    for name in [*theirs.keys(), "Missing"]:  # the indexed ``get`` answers as the scanning one, any case
        for spelled in (name, name.upper(), name.lower()):
            assert ours.get(spelled, "absent") == theirs.get(spelled, "absent")
    assert ours_stream.read() == theirs_stream.read()  # both stop at the same byte: the body is untouched


def test_an_indexed_header_block_answers_get_after_every_kind_of_change() -> None:
    """The index must never answer with a header that was deleted, replaced or shadowed since it was built."""
    ours = read_header_block(io.BytesIO(b"Host: a\r\nX-One: 1\r\nX-One: 2\r\n\r\n"))
    theirs = http.client.parse_headers(io.BytesIO(b"Host: a\r\nX-One: 1\r\nX-One: 2\r\n\r\n"))
    changes = [
        lambda m: m.get("x-one"),  # builds the index
        lambda m: m.__delitem__("X-One"),
        lambda m: m.__setitem__("X-One", "3"),
        lambda m: m.replace_header("Host", "b"),
        lambda m: m.add_header("X-Two", "4"),
        lambda m: m.set_raw("X-Three", "5"),
        lambda m: m.__delitem__("Host"),
        lambda m: m.__setitem__("Host", "c"),
    ]
    for change in changes:
        change(ours)
        change(theirs)
        for name in ("host", "X-ONE", "x-two", "X-Three", "missing"):
            assert ours.get(name) == theirs.get(name), (name, ours.items(), theirs.items())


@pytest.mark.parametrize("count", [MAX_HEADERS - 1, MAX_HEADERS, MAX_HEADERS + 1])
def test_header_limits_are_http_clients(count: int) -> None:
    """Past http.client's limits ours refuses too, with the exception of the same name (``gptimg.http_errors``)."""
    many = b"".join(b"X-%d: v\r\n" % i for i in range(count)) + b"\r\n"
    for stream in (io.BytesIO(many), io.BufferedReader(io.BytesIO(many))):
        try:
            http.client.parse_headers(io.BytesIO(many))
        except http.client.HTTPException as theirs:
            with pytest.raises(http_errors.HTTPException) as ours:
                read_header_block(stream)
            assert type(ours.value).__name__ == type(theirs).__name__
        else:
            assert len(read_header_block(stream)) == count
    with pytest.raises(http_errors.LineTooLong):
        read_header_block(io.BytesIO(b"X: " + b"v" * 70000 + b"\r\n\r\n"))


class _PlainHandler(BaseHTTPRequestHandler):
    """The standard library's own request-head handling, as the reference."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def plain_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _PlainHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def _answer(port: int, raw: bytes) -> tuple[str, bool]:
    """(status line, whether the server then closed the connection) for one raw request."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        reader = sock.makefile("rb")
        status = reader.readline().decode("latin-1").strip()
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        reader.read(length)
        sock.settimeout(0.5)
        try:
            closed = reader.read(1) == b""
        except (socket.timeout, TimeoutError):
            closed = False
        return status, closed


REQUESTS = [
    b"GET /health HTTP/2.0\r\n\r\n",
    b"GET /health HTTP/1.x\r\n\r\n",
    b"GET /health HTPP/1.1\r\n\r\n",
    b"GET /health HTTP/1.1.1\r\n\r\n",
    b"GET /health HTTP/1.1 extra\r\n\r\n",
    b"POST /health\r\n\r\n",
    b"GET /health HTTP/1.1\r\nX: " + b"v" * 70000 + b"\r\n\r\n",
    b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(MAX_HEADERS + 1)) + b"\r\n",
]


@pytest.mark.parametrize("raw", REQUESTS, ids=range(len(REQUESTS)))
def test_malformed_request_heads_get_the_standard_librarys_answers(
    make_sandbox: Callable[..., SandboxGateway], plain_port: int, raw: bytes
) -> None:
    sb = make_sandbox()
    assert _answer(sb.port, raw) == _answer(plain_port, raw)


@pytest.mark.parametrize(("version", "connection", "closes"), [
    ("HTTP/1.1", None, False), ("HTTP/1.1", "close", True), ("HTTP/1.0", None, True),
    ("HTTP/1.0", "keep-alive", False),
])
def test_keep_alive_is_decided_as_the_standard_library_decides_it(
    make_sandbox: Callable[..., SandboxGateway], plain_port: int, version: str, connection: str | None, closes: bool
) -> None:
    sb = make_sandbox()
    head = f"GET /health {version}\r\nHost: x\r\n" + (f"Connection: {connection}\r\n" if connection else "") + "\r\n"
    ours, theirs = _answer(sb.port, head.encode()), _answer(plain_port, head.encode())
    assert ours[1] == theirs[1] == closes
    assert ours[0].split()[1] == "200"
