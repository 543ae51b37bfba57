"""The standard-library wire writes requests and reads answers itself (``gateway.http1``), for speed.

It must read any answer exactly as ``http.client`` would (same status, same headers,
same body by the same framing, the same refusal past the same limits, under the same
exception name), and write requests
``http.client`` would write, refusing the same header or target injections
before a byte leaves and without echoing a header's value (the key).
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from gptimg.gateway.http1 import JOIN_BODY_BYTES, request_bytes
from gptimg.gateway.stdlib_wire import StdlibWire
from gptimg.gateway.wire import Timeouts, WireFailure
from stubserver import StubHandler, StubServer

TIMEOUTS = Timeouts(connect=5.0, read=5.0, write=5.0)
BODY = b"0123456789"

HEADS = {
    "plain": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 10\r\n\r\n",
    "bare LF": b"HTTP/1.1 200 OK\nContent-Type: text/plain\nContent-Length: 10\n\n",
    "obs-fold": b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second\r\nContent-Length: 10\r\n\r\n",
    "duplicate Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\nContent-Length: 10\r\n\r\n",
    "Content-Length list": b"HTTP/1.1 200 OK\r\nContent-Length: 10, 10\r\nConnection: close\r\n\r\n",
    "negative Content-Length": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\nConnection: close\r\n\r\n",
    "latin-1 value": b"HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 10\r\n\r\n",
    "UTF-8 value": b"HTTP/1.1 200 OK\r\nX-Name: \xe2\x98\x83 \x1b[31m\r\nContent-Length: 10\r\n\r\n",
    "UTF-8 name": b"HTTP/1.1 200 OK\r\nX-\xc3\xa9: v\r\nContent-Length: 10\r\n\r\n",
    "bare CR in a value": b"HTTP/1.1 200 OK\r\nX-Cr: a\rContent-Length: 3\r\nContent-Length: 10\r\n\r\n",
    "line without a colon": b"HTTP/1.1 200 OK\r\nno colon\r\nContent-Length: 10\r\n\r\n",
    "From line": b"HTTP/1.1 200 OK\r\nFrom me: odd\r\nContent-Length: 10\r\n\r\n",
    "space before colon": b"HTTP/1.1 200 OK\r\nContent-Length : 4\r\nConnection: close\r\n\r\n",
    "100 Continue first": b"HTTP/1.1 100 Continue\r\nX-Early: 1\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    "chunked wins over length": b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"a\r\n0123456789\r\n0\r\n\r\n",
    "HTTP/1.0 no length": b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n",
    "no content 204": b"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
    "100 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(99))
    + b"Content-Length: 10\r\n\r\n",
    "101 headers": b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(100))
    + b"Content-Length: 10\r\n\r\n",
    "65,537-byte line": b"HTTP/1.1 200 OK\r\nX-Long: " + b"v" * 65530 + b"\r\nContent-Length: 10\r\n\r\n",
    "cut in the head": b"HTTP/1.1 200 OK\r\nContent-Len",
    "HTTP/2 status line": b"HTTP/2 200 OK\r\nContent-Length: 10\r\n\r\n",
    "no status line": b"",
    "status line without a reason": b"HTTP/1.1 200\r\nContent-Length: 10\r\n\r\n",
    "status below 100": b"HTTP/1.1 099 Low\r\nContent-Length: 10\r\n\r\n",
    "status not a number": b"HTTP/1.1 2x0 OK\r\nContent-Length: 10\r\n\r\n",
    "65,537-byte status line": b"HTTP/1.1 200 " + b"x" * 65530 + b"\r\nContent-Length: 10\r\n\r\n",
    "102 Processing is final": b"HTTP/1.1 102 Processing\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n",
    "HTTP/1.0 keep-alive without a length": b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n",
    "chunk extensions and a trailer": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=v\r\n01234\r\n5\r\n56789\r\n0\r\nX-Trailer: t\r\n\r\n",
    "chunk size not hex": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n0123\r\n0\r\n\r\n",
    "chunk cut short": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234",
    "no last chunk": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n",
    "65,537-byte chunk size": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"0" * 65537 + b"a\r\n",
    "chunked in capitals": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: CHUNKED\r\n\r\na\r\n0123456789\r\n0\r\n\r\n",
}


class RawAnswers(StubServer):
    """Answers every request with ``self.raw`` (then ``BODY``, unless the head says chunked), then hangs up."""

    name = "raw-answers"
    raw = b""

    def answer(self, handler: StubHandler, method: str, path: str, headers: dict[str, str], body: bytes) -> None:
        chunked = b"chunked" in self.raw
        handler.wfile.write(self.raw if chunked or not self.raw.startswith(b"HTTP/") else self.raw + BODY)
        handler.wfile.flush()
        handler.close_connection = True
        try:
            handler.connection.shutdown(socket.SHUT_WR)
        except OSError:
            pass


@pytest.fixture(scope="module")
def raw_server() -> Iterator[RawAnswers]:
    server = RawAnswers().start()
    try:
        yield server
    finally:
        server.stop()


def _gets(headers: Any) -> list[Any]:
    """``get`` of every name in the head, spelled three ways, and of a missing one (two defaults)."""
    names = [spelled for name, _ in headers.items() for spelled in (name, name.lower(), name.upper())]
    return [headers.get(name) for name in names] + [headers.get("x-missing"), headers.get("X-Missing", "absent")]


def _standard_library(base_url: str) -> tuple[Any, ...]:
    host, port = base_url.rsplit("/", 1)[1].split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request("GET", "/cdn/x", headers={"Accept-Encoding": "identity"})
        response = connection.getresponse()
        return ("answer", response.status, response.reason, response.msg.items(), _gets(response.msg),
                response.read())
    except (http.client.HTTPException, OSError) as exc:
        return ("failed", type(exc).__name__)
    finally:
        connection.close()


def _ours(base_url: str) -> tuple[Any, ...]:
    wire = StdlibWire("t")
    try:
        response = wire.send("GET", base_url + "/cdn/x", headers={}, content=None, timeouts=TIMEOUTS)
        inner = response._response
        body = b"".join(response.iter_bytes(4096))
        response.close()
        return ("answer", response.status_code, inner.reason, response.headers.items(), _gets(response.headers),
                body)
    except WireFailure as failure:
        return ("failed", str(failure).split(": ", 1)[-1])
    finally:
        wire.close()


@pytest.mark.parametrize("name", list(HEADS))
def test_an_answer_head_reads_as_http_client_reads_it(raw_server: RawAnswers, name: str) -> None:
    raw_server.raw = HEADS[name]
    theirs = _standard_library(raw_server.base_url)
    ours = _ours(raw_server.base_url)
    assert ours == theirs


def test_the_limits_refuse_rather_than_read(raw_server: RawAnswers) -> None:
    for name, detail in (("101 headers", "HTTPException"), ("65,537-byte line", "LineTooLong")):
        raw_server.raw = HEADS[name]
        assert _ours(raw_server.base_url) == ("failed", detail)


class _Capture:
    """A socket that keeps what ``http.client`` sends."""

    def __init__(self) -> None:
        self.sent = b""

    def sendall(self, data: bytes) -> None:
        self.sent += bytes(data)


def _http_client_bytes(method: str, target: str, host: str, port: int | None, headers: dict[str, str],
                       body: bytes | None) -> bytes:
    connection = http.client.HTTPConnection(host, port)
    connection.sock = _Capture()  # type: ignore[assignment]
    connection.request(method, target, body=body, headers=headers)
    return connection.sock.sent  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize(("method", "target", "host", "port", "body"), [
    ("GET", "/cdn/a/0.png?sig=x%20y", "127.0.0.1", 8080, None),
    ("POST", "/v1/call", "agentools.uno", None, b'{"tool": "x"}'),
    ("POST", "/v1/call", "agentools.uno", 80, None),
    ("PUT", "/files/up", "::1", 9000, b"x" * (JOIN_BODY_BYTES + 1)),
    ("GET", "/", "b\xfccher.example", None, None),
])
def test_requests_are_the_bytes_http_client_would_send(
    method: str, target: str, host: str, port: int | None, body: bytes | None
) -> None:
    from gptimg.gateway.http1 import host_header

    headers = {"User-Agent": "t", "Accept-Encoding": "identity", "Authorization": "Bearer uno_k", "X-Empty": ""}
    ours = request_bytes(method, target, host_header(host, port, 80), headers, body)
    if body is not None and len(body) > JOIN_BODY_BYTES:
        ours += body
    assert ours == _http_client_bytes(method, target, host, port, headers, body)


@pytest.mark.parametrize(("target", "headers"), [
    ("/v1/call\r\nX-Injected: 1", {}),
    ("/v1/call HTTP/1.1\r\n", {}),
    ("/a b", {}),
    ("/v1/call", {"Authorization": "Bearer uno_SECRET\r\nX-Injected: 1"}),
    ("/v1/call", {"Authorization": "Bearer uno_SECRET\nX-Injected: 1"}),
    ("/v1/call", {"X\r\nInjected": "v"}),
    ("/v1/call", {"X-Colon:": "v"}),
    ("/v1/call", {"Authorization": "Bearer uno_SECRET\u2603"}),
])
def test_an_injection_is_refused_before_a_byte_is_written_and_never_echoes_the_value(
    raw_server: RawAnswers, target: str, headers: dict[str, str]
) -> None:
    raw_server.raw = HEADS["plain"]
    before = raw_server.connections_opened
    wire = StdlibWire("t")
    try:
        with pytest.raises((WireFailure, ValueError)) as caught:
            wire.send("POST", raw_server.base_url + target, headers=headers, content=b"{}", timeouts=TIMEOUTS)
    finally:
        wire.close()
    assert "SECRET" not in str(caught.value) and "SECRET" not in repr(caught.value.args)
    assert raw_server.connections_opened == before  # refused before a connection was even taken


def test_a_non_ascii_target_is_refused_as_http_client_refuses_it() -> None:
    with pytest.raises(UnicodeEncodeError):
        _http_client_bytes("GET", "/caf\xe9.png", "cdn.example", None, {}, None)
    with pytest.raises(UnicodeEncodeError):
        request_bytes("GET", "/caf\xe9.png", "cdn.example", {}, None)
