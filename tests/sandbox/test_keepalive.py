"""HTTP/1.1 keep-alive, spoken strictly: one raw socket, many requests, every answer framed by Content-Length.

Why a raw socket and not httpx: a pooling client quietly reconnects when the server
closes a connection or frames an answer badly, which would hide exactly the bugs
these tests are for. Here a second connection is impossible: every exchange must
come back whole on the one socket, and an answer without ``Content-Length`` (or one
that says ``Connection: close``) fails the test.
"""

from __future__ import annotations

import json
import socket
from typing import Any, Callable

import pytest

from gptimg import image_tool
from gptimg.sandbox import SandboxGateway
from waiting import long_poll_reached, wait_until

from .pngcheck import parse_png

SUBMIT, RESULT = image_tool.SUBMIT_TOOL, image_tool.RESULT_TOOL


class OneConnection:
    """A single keep-alive connection to the sandbox; refuses to reconnect."""

    def __init__(self, sb: SandboxGateway) -> None:
        self.sock = socket.create_connection(("127.0.0.1", sb.port), timeout=30)
        self.reader = self.sock.makefile("rb")
        self.host = f"127.0.0.1:{sb.port}"

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def request_bytes(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", f"Content-Length: {len(body)}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def read_answer(self, method: str = "GET", *, last: bool = False) -> tuple[int, dict[str, str], bytes]:
        """One whole answer; ``last`` expects it to say ``Connection: close`` (otherwise that fails)."""
        status_line = self.reader.readline()
        assert status_line.startswith(b"HTTP/1.1 "), f"connection closed or garbled: {status_line!r}"
        headers: dict[str, str] = {}
        while (line := self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        assert "content-length" in headers, f"an answer without Content-Length: {status_line!r} {headers}"
        assert "transfer-encoding" not in headers
        closing = headers.get("connection", "").lower() == "close"
        assert closing == last, f"Connection: close is {closing}, expected {last}: {status_line!r}"
        length = int(headers["content-length"])
        body = b"" if method == "HEAD" else self.reader.read(length)
        assert len(body) == (0 if method == "HEAD" else length)
        return int(status_line.split()[1]), headers, body

    def exchange(self, method: str, path: str, payload: Any = None, *, key: str | None = None,
                 raw: bytes | None = None, content_type: str = "application/json") -> tuple[int, dict[str, str], bytes]:
        body = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        headers = {"Content-Type": content_type}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self.sock.sendall(self.request_bytes(method, path, body, headers))
        return self.read_answer(method)

    def call(self, key: str | None, tool: str, arguments: Any) -> tuple[int, dict[str, Any]]:
        status, _, body = self.exchange("POST", "/v1/call", {"tool": tool, "arguments": arguments}, key=key)
        return status, json.loads(body)


@pytest.fixture
def one(make_sandbox: Callable[..., SandboxGateway]) -> Any:
    connections: list[OneConnection] = []

    def connect(sb: SandboxGateway) -> OneConnection:
        connections.append(OneConnection(sb))
        return connections[-1]

    yield connect
    for connection in connections:
        connection.close()


def _flat(answer: dict[str, Any]) -> dict[str, Any]:
    return json.loads(answer["data"]["content"][0]["text"])


def test_one_connection_carries_every_kind_of_answer_in_a_row(make_sandbox: Callable[..., SandboxGateway],
                                                              one: Any) -> None:
    sb = make_sandbox(delay=0.3, idempotent_submit=True)
    key = sb.create_account(email="keepalive@example.invalid")
    conn = one(sb)
    assert conn.exchange("GET", "/health")[0] == 200
    assert conn.exchange("HEAD", "/health")[0] == 200
    assert conn.exchange("GET", "/v1/tools?q=image")[0] == 200
    assert conn.call(None, SUBMIT, {"prompt": "x"})[0] == 401
    assert conn.call(key, "no.such_tool", {})[0] == 404
    assert conn.call(key, SUBMIT, {"prompt": ""})[0] == 400
    assert conn.exchange("POST", "/v1/call", raw=b"{not json", key=key)[0] == 400
    assert conn.exchange("PUT", "/health")[0] == 405
    assert conn.exchange("GET", "/no/such/path")[0] == 404
    assert conn.exchange("POST", "/v1/files", raw=bytes(8 * 1024 * 1024 + 1), key=key,
                         content_type="image/png")[0] == 413  # drained, so the next request still parses
    refused = conn.call(key, SUBMIT, {"prompt": "a cat [sandbox:tool-error]"})
    assert refused[0] == 200 and refused[1]["data"]["isError"] is True
    failing = conn.call(key, SUBMIT, {"prompt": "a cat [sandbox:fail]"})[1]["data"]["job_id"]
    status, answer = conn.call(key, SUBMIT, {"prompt": "a keep-alive fox", "n": 2, "idempotency_key": "k1"})
    job_id = answer["data"]["job_id"]
    assert conn.call(key, SUBMIT, {"prompt": "a keep-alive fox", "n": 2, "idempotency_key": "k1"})[1][
        "meta"]["idempotent_replay"] is True
    done = _flat(conn.call(key, RESULT, {"job_id": job_id, "wait_seconds": 10})[1])  # a held long-poll
    assert done["status"] == "done"
    assert _flat(conn.call(key, RESULT, {"job_id": failing, "wait_seconds": 10})[1])["status"] == "error"
    for item in done["items"]:
        status, headers, png = conn.exchange("GET", "/" + item["url"].split("/", 3)[3])
        assert status == 200 and headers["content-type"] == "image/png"
        assert parse_png(png).width == 1024
    assert conn.exchange("GET", f"/cdn/{job_id}/7.png")[0] == 404
    assert conn.exchange("GET", "/v1/usage/history?limit=50", key=key)[0] == 200
    assert sb.stats()["requests"] >= 20


def test_injected_faults_keep_the_connection_and_say_their_length(make_sandbox: Callable[..., SandboxGateway],
                                                                  one: Any) -> None:
    sb = make_sandbox(delay=0.2, fail_rate=1.0)
    key = sb.create_account(email="faults@example.invalid")
    conn = one(sb)
    job_id = conn.call(key, SUBMIT, {"prompt": "a fox"})[1]["data"]["job_id"]
    seen = [conn.call(key, RESULT, {"job_id": job_id, "wait_seconds": 1})[0] for _ in range(4)]
    assert sorted(set(seen)) == [429, 502]
    assert conn.exchange("GET", "/health")[0] == 200


def test_pipelined_requests_are_answered_in_order_on_one_connection(make_sandbox: Callable[..., SandboxGateway],
                                                                    one: Any) -> None:
    """Two requests in one write: a server that reads past the first body would lose the second."""
    sb = make_sandbox(delay=0.2)
    key = sb.create_account(email="pipeline@example.invalid")
    conn = one(sb)
    body = json.dumps({"tool": SUBMIT, "arguments": {"prompt": "first"}}).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    conn.sock.sendall(conn.request_bytes("POST", "/v1/call", body, headers) + conn.request_bytes("GET", "/health"))
    first_status, _, first = conn.read_answer()
    second_status, _, second = conn.read_answer()
    assert (first_status, second_status) == (200, 200)
    assert json.loads(first)["data"]["status"] == "pending" and json.loads(second)["status"] == "ok"


def _closed_by_server(conn: OneConnection) -> bool:
    try:
        return conn.reader.readline() == b""
    except ConnectionResetError:
        return True


def test_a_stopped_sandbox_takes_no_more_requests_on_a_kept_alive_connection(
    make_sandbox: Callable[..., SandboxGateway], one: Any
) -> None:
    """A pooled client keeps connections open; after stop() none of them may still submit and charge."""
    sb = make_sandbox(delay=0.2)
    key = sb.create_account(email="stopped@example.invalid", credits=3000)
    conn = one(sb)
    assert conn.call(key, SUBMIT, {"prompt": "before the stop"})[0] == 200
    sb.stop()
    body = json.dumps({"tool": SUBMIT, "arguments": {"prompt": "after the stop"}}).encode()
    try:
        conn.sock.sendall(conn.request_bytes("POST", "/v1/call", body, {"Authorization": f"Bearer {key}"}))
    except (BrokenPipeError, ConnectionResetError):
        pass  # refused outright: also right
    assert _closed_by_server(conn)
    assert sb.stats()["submits"] == 1
    assert [a["credits"] for a in sb.stats()["accounts"] if a["email"] == "stopped@example.invalid"] == [2700]


def test_a_long_poll_woken_by_stop_is_answered_and_its_connection_then_ends(
    make_sandbox: Callable[..., SandboxGateway], one: Any
) -> None:
    sb = make_sandbox(delay=120)
    key = sb.create_account(email="held@example.invalid")
    conn = one(sb)
    job_id = conn.call(key, SUBMIT, {"prompt": "a slow fox"})[1]["data"]["job_id"]
    body = json.dumps({"tool": RESULT, "arguments": {"job_id": job_id, "wait_seconds": 50}}).encode()
    conn.sock.sendall(conn.request_bytes("POST", "/v1/call", body, {"Authorization": f"Bearer {key}"}))
    wait_until(long_poll_reached(sb), what="the sandbox holding the long-poll")
    sb.stop()
    status, _, answer = conn.read_answer(last=True)
    assert status == 200 and _flat(json.loads(answer))["status"] in ("pending", "running")
    assert _closed_by_server(conn)
