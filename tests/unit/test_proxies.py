"""The standard-library wire honours HTTPS_PROXY / HTTP_PROXY / NO_PROXY, so a proxy never forces httpx.

A small forward proxy on 127.0.0.1 records what it is asked: CONNECT (and then relays
bytes to a local TLS gateway) for https, absolute-form requests for http.
"""

from __future__ import annotations

import base64
import json
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from gptimg.gateway import proxies
from gptimg.gateway.stdlib_wire import StdlibWire
from gptimg.gateway.wire import Timeouts
from gptimg.gateway.wires import choose_wire

REPO = Path(__file__).resolve().parents[2]
TIMEOUTS = Timeouts(connect=5, read=5)
ALL_PROXY_VARIABLES = (*proxies.PROXY_VARIABLES, *proxies.NO_PROXY_VARIABLES)


@pytest.fixture(autouse=True)
def _no_inherited_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ALL_PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


class ForwardProxy:
    """Records each request head; CONNECT is relayed to ``tunnel_to``, absolute-form answered itself."""

    def __init__(self, tunnel_to: tuple[str, int] | None = None) -> None:
        self.heads: list[str] = []
        self.tunnel_to = tunnel_to
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                head += chunk
            self.heads.append(head.split(b"\r\n\r\n")[0].decode())
            if head.startswith(b"CONNECT"):
                if self.tunnel_to is None:
                    conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                    return
                upstream = socket.create_connection(self.tunnel_to)
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                _relay(conn, upstream)
                return
            body = b'{"proxied": true}'
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                         b"Connection: close\r\n\r\n%s" % (len(body), body))

    def close(self) -> None:
        self._server.close()


def _relay(a: socket.socket, b: socket.socket) -> None:
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join(5)


@pytest.fixture
def forward_proxy() -> Iterator[ForwardProxy]:
    proxy = ForwardProxy()
    yield proxy
    proxy.close()


def test_the_proxy_for_each_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://user:p%40ss@proxy.example:3128")
    monkeypatch.setenv("http_proxy", "proxy.example:8080")
    monkeypatch.setenv("NO_PROXY", "internal.example, .corp.example,cdn.example:8443")
    found = proxies.proxy_for("https://agentools.uno/v1/call")
    assert found == ("proxy.example", 3128, "Basic " + base64.b64encode(b"user:p@ss").decode())
    assert proxies.proxy_for("http://cdn.other/a.png") == ("proxy.example", 8080, None)
    for direct in ("https://internal.example/x", "https://a.corp.example/x", "https://corp.example/x",
                   "https://cdn.example:8443/x", "http://127.0.0.1:8765/v1/call", "http://localhost/x",
                   "http://[::1]:9/x"):
        assert proxies.proxy_for(direct) is None, direct
    assert proxies.proxy_for("https://cdn.example/x") is not None  # the port in NO_PROXY must match
    monkeypatch.setenv("NO_PROXY", "*")
    assert proxies.proxy_for("https://agentools.uno/") is None


def test_the_gateway_picks_the_stdlib_wire_behind_an_http_proxy_and_httpx_only_for_socks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for short_lived in (True, False):  # the agent CLI and every long-lived process alike
        monkeypatch.delenv("HTTPS_PROXY", raising=False)
        assert isinstance(choose_wire(short_lived=short_lived, max_connections=1, user_agent="t"), StdlibWire)
        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
        assert isinstance(choose_wire(short_lived=short_lived, max_connections=1, user_agent="t"), StdlibWire)
    assert proxies.stdlib_can_speak_proxies()
    monkeypatch.setenv("HTTPS_PROXY", "socks5://proxy.example:1080")
    assert not proxies.stdlib_can_speak_proxies()  # so choose_wire falls back to httpx (which needs socksio)


def test_http_goes_to_the_proxy_in_absolute_form(forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://agent:secret@127.0.0.1:{forward_proxy.port}")
    response = StdlibWire("t").send("GET", "http://cdn.example/img/1.png?x=1", headers={}, content=None,
                                    timeouts=TIMEOUTS)
    assert b"".join(response.iter_bytes(1024)) == b'{"proxied": true}'
    response.close()
    [head] = forward_proxy.heads
    lines = head.split("\r\n")
    assert lines[0] == "GET http://cdn.example/img/1.png?x=1 HTTP/1.1"
    assert "Host: cdn.example" in lines
    assert "Proxy-Authorization: Basic " + base64.b64encode(b"agent:secret").decode() in lines


def test_a_refused_tunnel_is_a_failure_before_anything_was_sent(
    forward_proxy: ForwardProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gptimg.gateway.wire import WireFailure

    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{forward_proxy.port}")
    with pytest.raises(WireFailure) as failure:
        StdlibWire("t").send("POST", "https://agentools.uno/v1/call", headers={}, content=b"{}", timeouts=TIMEOUTS)
    assert failure.value.arrived is False
    assert forward_proxy.heads[0].startswith("CONNECT agentools.uno:443 HTTP/1.")


@pytest.fixture
def tls_gateway(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A TLS ``/health`` endpoint on 127.0.0.1 with a certificate for gateway.test (made by openssl)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=gateway.test",
         "-addext", "subjectAltName=DNS:gateway.test", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - stdlib name
            body = json.dumps({"status": "ok", "user_agent": self.headers.get("User-Agent")}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], cert
    server.shutdown()
    server.server_close()


@pytest.mark.e2e
def test_the_agent_cli_tunnels_https_through_the_proxy_without_httpx(
    tls_gateway: tuple[int, Path], tmp_path: Path
) -> None:
    """Run with ``-S`` (no site-packages, so no httpx): the call still goes through, end to end over TLS."""
    port, cert = tls_gateway
    proxy = ForwardProxy(tunnel_to=("127.0.0.1", port))
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GPTIMG_HOME": str(tmp_path / "data"),
               "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "SSL_CERT_FILE": str(cert),
               "UNO_CALLER_SKILL": "my skill!"}
        done = subprocess.run([sys.executable, "-S", str(REPO / "bin" / "uno.py"), "health", "--compact",
                               "--base-url", "https://gateway.test"], env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        proxy.close()
    assert done.returncode == 0, (done.stdout, done.stderr)
    data = json.loads(done.stdout)["data"]
    assert data["status"] == "ok"
    assert data["user_agent"].startswith("gptimg/") and data["user_agent"].endswith(" skill/myskill")
    assert proxy.heads[0].startswith("CONNECT gateway.test:443 HTTP/1.")


@pytest.mark.e2e
def test_an_untrusted_certificate_is_a_tls_failure_although_ssl_loads_only_then(
    tls_gateway: tuple[int, Path], tmp_path: Path
) -> None:
    """ssl is first imported for the first https connection (``stdlib_wire._tls``); its failure must still read
    as TLS (``tls_failed``, nothing sent), not as a refused or dropped connection."""
    port, _cert = tls_gateway
    proxy = ForwardProxy(tunnel_to=("127.0.0.1", port))
    try:
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GPTIMG_HOME": str(tmp_path / "data"),
               "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}", "UNO_API_KEY": "uno_tls_test_key_0000000000"}
        done = subprocess.run([sys.executable, "-I", "-S", str(REPO / "bin" / "uno.py"), "whoami", "--compact",
                               "--base-url", "https://gateway.test"], env=env, capture_output=True, text=True,
                              timeout=60)
    finally:
        proxy.close()
    answer = json.loads(done.stdout)
    assert (answer["success"], answer["code"]) == (False, "tls_failed"), answer
    assert "Traceback" not in done.stderr


@pytest.mark.e2e
def test_ssl_is_loaded_by_the_first_https_connection_and_is_the_real_module() -> None:
    """Importing the wire loads neither ssl nor http.client (nor email); an https connection loads the
    real ssl and builds a real context (a fresh interpreter: this one has loaded ssl long ago)."""
    probe = (
        "import sys\n"
        "from gptimg.gateway import stdlib_wire\n"
        "from gptimg.gateway.wire import Timeouts\n"
        "assert not {'ssl', 'http.client', 'email'} & set(sys.modules), 'loaded at import'\n"
        "origin = stdlib_wire._origin('https', 'gateway.test')\n"
        "connection = stdlib_wire._new_connection(origin, Timeouts(connect=1, read=1, write=1))\n"
        "import ssl\n"
        "assert sys.modules['ssl'] is ssl and type(ssl).__name__ == 'module'\n"
        "assert isinstance(connection.tls, ssl.SSLContext) and connection.port == 443\n"
        "assert stdlib_wire._is_tls_error(ssl.SSLError('x'))\n"
        "assert 'http.client' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO / "src")}
    done = subprocess.run([sys.executable, "-I", "-S", "-c", f"import sys; sys.path.insert(0, {str(REPO / 'src')!r})\n"
                           + probe], env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr


def test_the_stdlib_wire_falls_back_to_certifi_where_the_system_has_no_trust_store(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The human CLI used httpx (certifi's bundle) before it used this wire: no machine may lose TLS by it."""
    from gptimg.gateway import stdlib_wire

    monkeypatch.setattr(stdlib_wire, "_tls_context", None)
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent/ca.pem")
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent/certs")
    assert stdlib_wire._tls().cert_store_stats()["x509_ca"] > 0
    monkeypatch.setattr(stdlib_wire, "_tls_context", None)
