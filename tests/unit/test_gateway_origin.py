"""The key goes only to the gateway's own origin, over HTTPS or loopback HTTP; downloads are complete or retried."""

from __future__ import annotations

import io

import httpx
import pytest

from gptimg import errors
from gptimg.gateway import DEFAULT_BASE_URL, GatewayClient, base_url_warnings, resolve_base_url
from gptimg.gateway.exchange import user_agent
from gptimg.gateway.urls import validate_base_url

from ._support import BASE, KEY

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


# --- download: where the key may go ---------------------------------------------------------


def test_download_from_a_cdn_carries_no_authorization(gateway, make_client):
    route = gateway.get("https://cdn.test/images/a.png").respond(200, content=PNG, headers={"Content-Type": "image/png"})
    sink = io.BytesIO()

    info = make_client().download("https://cdn.test/images/a.png", sink)

    assert "authorization" not in route.calls.last.request.headers
    assert sink.getvalue() == PNG
    assert info.size == len(PNG)
    assert info.content_type == "image/png"


def test_download_from_the_same_host_on_another_port_carries_no_authorization(gateway, make_client):
    route = gateway.get("https://gateway.test:8443/a.png").respond(200, content=PNG)

    make_client().download("https://gateway.test:8443/a.png", io.BytesIO())

    assert "authorization" not in route.calls.last.request.headers


def test_download_from_the_gateway_origin_carries_the_key(gateway, make_client):
    route = gateway.get("/v1/files/f_abc/content").respond(200, content=PNG)

    make_client().download(f"{BASE}/v1/files/f_abc/content", io.BytesIO())

    assert route.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def test_redirect_from_the_gateway_to_another_host_drops_the_key(gateway, make_client):
    first = gateway.get("/v1/files/f_abc/content").respond(302, headers={"Location": "https://cdn.test/signed/a.png"})
    second = gateway.get("https://cdn.test/signed/a.png").respond(200, content=PNG)
    sink = io.BytesIO()

    make_client().download(f"{BASE}/v1/files/f_abc/content", sink)

    assert first.calls.last.request.headers["authorization"] == f"Bearer {KEY}"
    assert "authorization" not in second.calls.last.request.headers
    assert sink.getvalue() == PNG


def test_redirect_from_a_cdn_back_to_the_gateway_gets_the_key_only_there(gateway, make_client):
    cdn = gateway.get("https://cdn.test/a.png").respond(307, headers={"Location": f"{BASE}/v1/files/f_abc"})
    home = gateway.get("/v1/files/f_abc").respond(200, content=PNG)

    make_client().download("https://cdn.test/a.png", io.BytesIO())

    assert "authorization" not in cdn.calls.last.request.headers
    assert home.calls.last.request.headers["authorization"] == f"Bearer {KEY}"


def test_redirect_loop_is_cut_short(gateway, make_client):
    gateway.get("https://cdn.test/loop").respond(302, headers={"Location": "https://cdn.test/loop"})

    with pytest.raises(errors.InvalidResponse):
        make_client(max_attempts=1).download("https://cdn.test/loop", io.BytesIO())


def test_download_refuses_non_http_schemes(make_client):
    with pytest.raises(errors.InvalidResponse):
        make_client().download("file:///etc/passwd", io.BytesIO())


def test_json_calls_never_follow_redirects_with_the_key(gateway, make_client):
    gateway.get("/v1/auth/me").respond(301, headers={"Location": "https://evil.test/v1/auth/me"})
    elsewhere = gateway.get("https://evil.test/v1/auth/me").respond(200, json={"name": "x"})

    with pytest.raises(errors.InvalidResponse):
        make_client().me()

    assert elsewhere.call_count == 0


def test_redirect_answer_to_a_submit_is_not_taken_for_a_success(gateway, make_client):
    # clawtools.uno-style: the look-alike host answers every call with a redirect.
    route = gateway.post("/v1/call").respond(301, headers={"Location": "https://agentools.uno/v1/call"})

    with pytest.raises(errors.InvalidResponse) as caught:
        make_client().submit({"prompt": "a fox"})

    assert route.call_count == 1
    assert "agentools.uno" in caught.value.message


# --- download: complete bytes or nothing ----------------------------------------------------


def test_cut_off_download_is_retried_and_the_sink_holds_only_complete_bytes(gateway, make_client, fake_time):
    full = PNG + b"tail-bytes"
    route = gateway.get("https://cdn.test/a.png")
    route.side_effect = [
        httpx.Response(200, content=full[:40], headers={"Content-Length": str(len(full))}),
        httpx.Response(200, content=full),
    ]
    sink = io.BytesIO()
    sink.write(b"stale bytes from an earlier run that must disappear" * 4)

    info = make_client().download("https://cdn.test/a.png", sink)

    assert route.call_count == 2
    assert sink.getvalue() == full
    assert info.size == len(full)
    assert len(fake_time.sleeps) == 1


def test_download_that_is_always_cut_off_fails_after_max_attempts(gateway, make_client):
    route = gateway.get("https://cdn.test/a.png").respond(200, content=b"abc", headers={"Content-Length": "10"})

    with pytest.raises(errors.ConnectionFailed):
        make_client(max_attempts=3).download("https://cdn.test/a.png", io.BytesIO())

    assert route.call_count == 3


def test_download_over_max_bytes_is_refused(gateway, make_client):
    gateway.get("https://cdn.test/big.png").respond(200, content=b"x" * 5000)

    with pytest.raises(errors.InvalidResponse):
        make_client().download("https://cdn.test/big.png", io.BytesIO(), max_bytes=1000)


def test_download_retries_a_cdn_503(gateway, make_client):
    route = gateway.get("https://cdn.test/a.png")
    route.side_effect = [httpx.Response(503), httpx.Response(200, content=PNG)]

    make_client().download("https://cdn.test/a.png", io.BytesIO())

    assert route.call_count == 2


def test_download_404_is_not_retried(gateway, make_client):
    route = gateway.get("https://cdn.test/a.png").respond(404)

    with pytest.raises(errors.GatewayError) as caught:
        make_client().download("https://cdn.test/a.png", io.BytesIO())

    assert route.call_count == 1
    assert caught.value.code == "download_refused"


# --- base URL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    ["http://agentools.uno", "http://example.com:8080/api", "http://10.0.0.5", "http://127.0.0.1.evil.test"],
)
def test_plain_http_to_a_non_loopback_host_is_insecure_transport(url):
    with pytest.raises(errors.InsecureTransport) as caught:
        validate_base_url(url)

    assert caught.value.exit_code == errors.EXIT_BAD_INPUT
    assert "https" in caught.value.hint


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8765", "http://127.5.6.7", "http://localhost:9000", "http://[::1]:8765", "http://LOCALHOST"],
)
def test_plain_http_to_loopback_is_allowed(url):
    assert validate_base_url(url) == url


@pytest.mark.parametrize(
    "url",
    ["agentools.uno", "not a url", "ftp://agentools.uno", "https://", "", "https://agentools.uno/?x=1",
     "https://agentools.uno:notaport", "https://agentools.uno:99999"],
)
def test_garbage_base_url_is_invalid_config(url):
    with pytest.raises(errors.InvalidConfig) as caught:
        validate_base_url(url)

    assert not isinstance(caught.value, errors.InsecureTransport)
    assert caught.value.exit_code == errors.EXIT_BAD_INPUT


def test_client_refuses_an_insecure_base_url_before_any_request():
    with pytest.raises(errors.InsecureTransport):
        GatewayClient("http://gateway.test", KEY)


def test_trailing_slash_is_dropped():
    assert validate_base_url("https://agentools.uno/") == "https://agentools.uno"


@pytest.mark.parametrize("url", ["https://clawtools.uno", "https://api.clawtools.uno/"])
def test_lookalike_host_gets_a_warning(url):
    warnings = base_url_warnings(url)

    assert len(warnings) == 1
    assert DEFAULT_BASE_URL in warnings[0]


@pytest.mark.parametrize("url", ["https://agentools.uno", "https://clawdtools.uno", "http://127.0.0.1:8765"])
def test_real_hosts_get_no_warning(url):
    assert base_url_warnings(url) == []


def test_resolve_base_url_flag_beats_env_beats_default(monkeypatch):
    assert resolve_base_url() == DEFAULT_BASE_URL == "https://agentools.uno"

    monkeypatch.setenv("UNO_API_URL", "https://env.test/")
    assert resolve_base_url() == "https://env.test"
    assert resolve_base_url(None) == "https://env.test"

    assert resolve_base_url("https://flag.test") == "https://flag.test"


def test_resolve_base_url_validates_the_env_value(monkeypatch):
    monkeypatch.setenv("UNO_API_URL", "http://gateway.example.com")

    with pytest.raises(errors.InsecureTransport):
        resolve_base_url()


# --- identity ------------------------------------------------------------------------------


def test_user_agent_names_gptimg_and_its_version(gateway, make_client):
    route = gateway.get("/health").respond(200, json={"status": "ok"})

    make_client().health()

    agent = route.calls.last.request.headers["user-agent"]
    assert agent.startswith("gptimg/")
    assert agent == user_agent()


def test_public_catalogue_reads_send_no_key(gateway, make_client):
    route = gateway.get("/v1/tools").respond(200, json={"tools": []})

    make_client().search_tools("image", limit=5, mode=None)

    request = route.calls.last.request
    assert "authorization" not in request.headers
    assert dict(request.url.params) == {"q": "image", "limit": "5"}


def test_client_repr_does_not_show_the_key(make_client):
    client = make_client()
    assert KEY not in repr(client)
    assert KEY not in repr(client.with_key(KEY))
