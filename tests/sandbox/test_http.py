"""The sandbox over real HTTP on 127.0.0.1, driven with httpx."""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable
from urllib.parse import urlsplit

import httpx
import pytest

from gptimg import image_tool, styles
from gptimg.sandbox import NonLoopbackHost, SandboxConfig, SandboxGateway, is_loopback_host
from waiting import long_poll_reached, wait_until

from .pngcheck import parse_png

SUBMIT, RESULT = image_tool.SUBMIT_TOOL, image_tool.RESULT_TOOL


def call(http: httpx.Client, sb: SandboxGateway, key: str | None, tool: str, arguments: Any,
         timeout: float = 30) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return http.post(f"{sb.base_url}/v1/call", json={"tool": tool, "arguments": arguments},
                     headers=headers, timeout=timeout)


def result_data(response: httpx.Response) -> dict[str, Any]:
    """Flatten the MCP-style answer the way clients must."""
    content = response.json()["data"]["content"]
    assert content[0]["type"] == "text"
    return json.loads(content[0]["text"])


def submit(http: httpx.Client, sb: SandboxGateway, key: str, **arguments: Any) -> str:
    response = call(http, sb, key, SUBMIT, {"prompt": "a red fox", **arguments})
    assert response.status_code == 200, response.text
    return response.json()["data"]["job_id"]


# --- public endpoints -----------------------------------------------------------------


def test_health_and_catalogue(sandbox: SandboxGateway, http: httpx.Client) -> None:
    assert http.get(f"{sandbox.base_url}/health").json()["status"] == "ok"
    tools = http.get(f"{sandbox.base_url}/v1/tools", params={"q": "image", "limit": 10}).json()["tools"]
    by_slug = {t["tool"]: t for t in tools}
    assert set(by_slug) == {SUBMIT, RESULT}
    assert by_slug[SUBMIT]["pricing"] == {"mode": "per_call", "cost": 300}
    assert by_slug[RESULT]["pricing"]["cost"] == 0
    assert by_slug[SUBMIT]["input_schema"]["properties"]["style"]["enum"] == list(styles.STYLES)
    assert http.get(f"{sandbox.base_url}/v1/tools", params={"q": "weather"}).json()["tools"] == []
    assert http.get(f"{sandbox.base_url}/v1/tools", params={"q": "image", "limit": 0}).status_code == 400


def test_tool_detail_is_wrapped_and_unknown_slug_is_tool_not_found(sandbox: SandboxGateway,
                                                                    http: httpx.Client) -> None:
    body = http.get(f"{sandbox.base_url}/v1/tools/{SUBMIT}").json()
    assert body["error"] is None and body["data"]["tool"] == SUBMIT
    missing = http.get(f"{sandbox.base_url}/v1/tools/nope.tool")
    assert (missing.status_code, missing.json()["error"]) == (404, "tool_not_found")


# --- auth and credits -------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "uno_sbx_00000000000000000000000000000000"])
def test_missing_or_unknown_key_is_401_everywhere(sandbox: SandboxGateway, http: httpx.Client,
                                                  key: str | None) -> None:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    answers = [
        http.get(f"{sandbox.base_url}/v1/auth/me", headers=headers),
        call(http, sandbox, key, SUBMIT, {"prompt": "p"}),
        http.post(f"{sandbox.base_url}/v1/files", content=b"x", headers={**headers, "Content-Type": "image/png"}),
    ]
    for response in answers:
        assert response.status_code == 401
        assert response.json()["error"] == "invalid_api_key"
    assert sandbox.stats()["submits"] == 0


def test_me_shows_balance_and_submit_debits_the_price(sandbox: SandboxGateway, http: httpx.Client) -> None:
    key = sandbox.create_account(name="Ada", email="ada@example.invalid")
    me = http.get(f"{sandbox.base_url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["name"] == "Ada" and me["credits"] == 3000 and me["plan"] == "sandbox"
    response = call(http, sandbox, key, SUBMIT, {"prompt": "p"})
    assert response.json()["meta"]["credits_used"] == 300
    me = http.get(f"{sandbox.base_url}/v1/auth/me", headers={"Authorization": f"Bearer {key}"}).json()
    assert me["credits"] == 2700


def test_short_balance_is_402_with_recharge_url_and_nothing_debited(sandbox: SandboxGateway,
                                                                    http: httpx.Client) -> None:
    key = sandbox.create_account(email="poor@example.invalid", credits=299)
    response = call(http, sandbox, key, SUBMIT, {"prompt": "p"})
    assert response.status_code == 402
    body = response.json()
    assert body["error"] == "insufficient_credits"
    assert body["recharge_url"] == f"{sandbox.base_url}/pricing"
    assert body["meta"]["credits_used"] == 0
    assert {"email": "poor@example.invalid", "credits": 299} in sandbox.stats()["accounts"]
    assert sandbox.stats()["submits"] == 0


def test_invalid_arguments_cost_nothing(sandbox: SandboxGateway, http: httpx.Client) -> None:
    key = sandbox.create_account(email="a@example.invalid")
    response = call(http, sandbox, key, SUBMIT, {"prompt": "p", "n": 9})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_arguments")
    unknown = call(http, sandbox, key, "other.tool", {})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "tool_not_found")
    assert {"email": "a@example.invalid", "credits": 3000} in sandbox.stats()["accounts"]


# --- jobs -------------------------------------------------------------------------------


def test_long_poll_answers_as_soon_as_the_job_ends(make_sandbox: Callable[..., SandboxGateway],
                                                   http: httpx.Client) -> None:
    sb = make_sandbox(delay=0.6)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    quick = result_data(call(http, sb, key, RESULT, {"job_id": job_id}))
    assert quick["status"] in ("pending", "running") and "items" not in quick
    started = time.monotonic()
    done = result_data(call(http, sb, key, RESULT, {"job_id": job_id, "wait_seconds": 20}))
    elapsed = time.monotonic() - started
    assert done["status"] == "done"
    assert elapsed < 3, f"long-poll held {elapsed:.1f}s after the job ended"


def test_long_poll_gives_up_after_wait_seconds_while_still_running(make_sandbox: Callable[..., SandboxGateway],
                                                                  http: httpx.Client) -> None:
    sb = make_sandbox(delay=30)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    started = time.monotonic()
    data = result_data(call(http, sb, key, RESULT, {"job_id": job_id, "wait_seconds": 0.5}))
    assert data["status"] in ("pending", "running")
    assert 0.4 < time.monotonic() - started < 3


@pytest.mark.parametrize(("size", "n", "dims"), [("1536x1024", 2, (1536, 1024)), ("auto", 1, (1024, 1024))])
def test_done_items_are_pngs_of_the_requested_size_served_without_a_key(
    make_sandbox: Callable[..., SandboxGateway], http: httpx.Client, size: str, n: int, dims: tuple[int, int]
) -> None:
    sb = make_sandbox(delay=0)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key, size=size, n=n, style="flat_vector")
    data = result_data(call(http, sb, key, RESULT, {"job_id": job_id, "wait_seconds": 5}))
    assert data["status"] == "done" and data["job_id"] == job_id
    urls = [item["url"] for item in data["items"]]
    assert len(urls) == n
    bodies = []
    for url in urls:
        assert url.startswith(f"{sb.base_url}/cdn/{job_id}/")
        image = http.get(url)
        assert image.headers["content-type"] == "image/png"
        assert int(image.headers["content-length"]) == len(image.content)
        info = parse_png(image.content)
        assert (info.width, info.height) == dims
        bodies.append(image.content)
    assert len(set(bodies)) == n
    assert http.get(f"{sb.base_url}/cdn/{job_id}/{n}.png").status_code == 404


def test_another_accounts_key_gets_job_not_found_not_the_job(sandbox: SandboxGateway,
                                                             http: httpx.Client) -> None:
    owner = sandbox.create_account(email="owner@example.invalid")
    other = sandbox.create_account(email="other@example.invalid")
    job_id = submit(http, sandbox, owner, prompt="owner's secret prompt")
    theirs = call(http, sandbox, other, RESULT, {"job_id": job_id, "wait_seconds": 2})
    missing = call(http, sandbox, other, RESULT, {"job_id": "0123456789ab"})
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["error"] == missing.json()["error"] == "job_not_found"
    assert "items" not in theirs.text and "secret" not in theirs.text
    assert call(http, sandbox, owner, RESULT, {"job_id": job_id}).status_code == 200


def test_failed_generation_reports_error_status(make_sandbox: Callable[..., SandboxGateway],
                                                http: httpx.Client) -> None:
    sb = make_sandbox(delay=0)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key, prompt="[sandbox:fail]")
    data = result_data(call(http, sb, key, RESULT, {"job_id": job_id}))
    assert data["status"] == "error" and data["error"]


def test_stop_wakes_a_long_poll(make_sandbox: Callable[..., SandboxGateway], http: httpx.Client) -> None:
    sb = make_sandbox(delay=120)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    answers: list[httpx.Response] = []
    poller = threading.Thread(target=lambda: answers.append(call(http, sb, key, RESULT,
                                                                 {"job_id": job_id, "wait_seconds": 50})))
    poller.start()
    wait_until(long_poll_reached(sb), what="the sandbox holding the long-poll")
    started = time.monotonic()
    sb.stop()
    poller.join(timeout=10)
    assert not poller.is_alive() and time.monotonic() - started < 5
    assert result_data(answers[0])["status"] in ("pending", "running")


def test_one_hundred_concurrent_long_polls_all_complete(make_sandbox: Callable[..., SandboxGateway]) -> None:
    sb = make_sandbox(delay=1.0, credits=100 * 300)
    key = sb.create_account(email="busy@example.invalid")
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    with httpx.Client(trust_env=False, timeout=30, limits=limits) as client:
        job_ids = [submit(client, sb, key, prompt=f"prompt {i}") for i in range(100)]
        statuses: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def poll(job_id: str) -> None:
            try:
                data = result_data(call(client, sb, key, RESULT, {"job_id": job_id, "wait_seconds": 20}))
                with lock:
                    statuses.append(data["status"])
            except BaseException as exc:  # collected and asserted below
                with lock:
                    errors.append(exc)

        started = time.monotonic()
        threads = [threading.Thread(target=poll, args=(job_id,)) for job_id in job_ids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert not errors, errors[:3]
    assert statuses == ["done"] * 100
    assert time.monotonic() - started < 10
    assert sb.stats()["result_polls"] == 100


# --- reliability injection ------------------------------------------------------------


def poll_statuses(sb: SandboxGateway, http: httpx.Client, count: int) -> list[tuple[int, str | None]]:
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    out = []
    for _ in range(count):
        response = call(http, sb, key, RESULT, {"job_id": job_id})
        out.append((response.status_code, response.headers.get("retry-after")))
    return out


def test_fail_rate_sequence_repeats_for_a_seed(make_sandbox: Callable[..., SandboxGateway],
                                               http: httpx.Client) -> None:
    first = poll_statuses(make_sandbox(fail_rate=0.5, seed=3), http, 30)
    second = poll_statuses(make_sandbox(fail_rate=0.5, seed=3), http, 30)
    assert first == second
    codes = {status for status, _ in first}
    assert codes == {200, 429, 502}
    assert all(retry == "1" for status, retry in first if status == 429)


def test_injected_429_carries_retry_after_in_meta_and_submits_never_fail(
    make_sandbox: Callable[..., SandboxGateway], http: httpx.Client
) -> None:
    sb = make_sandbox(fail_rate=1.0, retry_after=2)
    key = sb.create_account(email="a@example.invalid")
    job_ids = [submit(http, sb, key) for _ in range(5)]
    first = call(http, sb, key, RESULT, {"job_id": job_ids[0]})
    second = call(http, sb, key, RESULT, {"job_id": job_ids[0]})
    assert (first.status_code, first.json()["error"]) == (502, "upstream_error")
    assert (second.status_code, second.json()["error"]) == (429, "rate_limit_exceeded")
    assert second.headers["retry-after"] == "2"
    assert second.json()["meta"]["retry_after_seconds"] == 2


# --- uploads ----------------------------------------------------------------------------


def test_upload_round_trip_and_file_id_is_a_valid_reference(sandbox: SandboxGateway, http: httpx.Client) -> None:
    key = sandbox.create_account(email="a@example.invalid")
    auth = {"Authorization": f"Bearer {key}"}
    png = b"\x89PNG\r\n\x1a\n fake but fine"
    answer = http.post(f"{sandbox.base_url}/v1/files", content=png, headers={**auth, "Content-Type": "image/png"})
    assert answer.status_code == 200
    body = answer.json()
    assert "," not in body["url"] and body["file_id"].startswith("f_")
    served = http.get(body["url"])
    assert served.content == png and served.headers["content-type"] == "image/png"
    refs = f"{body['url']},{body['file_id']}"
    assert call(http, sandbox, key, SUBMIT, {"prompt": "p", "reference_image_urls": refs}).status_code == 200
    assert sandbox.stats()["uploads"] == 1


def test_upload_limits(sandbox: SandboxGateway, http: httpx.Client) -> None:
    auth = {"Authorization": f"Bearer {sandbox.create_account(email='a@example.invalid')}"}
    url = f"{sandbox.base_url}/v1/files"
    wrong_type = http.post(url, content=b"%PDF", headers={**auth, "Content-Type": "application/pdf"})
    assert wrong_type.status_code == 415
    too_big = http.post(url, content=bytes(8 * 1024 * 1024 + 1), headers={**auth, "Content-Type": "image/png"})
    assert (too_big.status_code, too_big.json()["error"]) == (413, "file_too_large")
    at_limit = http.post(url, content=bytes(8 * 1024 * 1024), headers={**auth, "Content-Type": "image/jpeg"})
    assert at_limit.status_code == 200
    # The connection is still usable after a refused upload.
    assert http.get(f"{sandbox.base_url}/health").status_code == 200


# --- device flow over HTTP ----------------------------------------------------------------


def start_login(http: httpx.Client, sb: SandboxGateway) -> dict[str, Any]:
    answer = http.post(f"{sb.base_url}/oauth/device/code", json={"client_id": "uno-cli", "scope": "mcp:gpt-image-2"})
    assert answer.status_code == 200
    return answer.json()


def token(http: httpx.Client, sb: SandboxGateway, device_code: str) -> httpx.Response:
    return http.post(f"{sb.base_url}/oauth/token", json={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code", "device_code": device_code,
        "client_id": "uno-cli"})


def test_device_flow_over_http(sandbox: SandboxGateway, http: httpx.Client) -> None:
    start = start_login(http, sandbox)
    assert start["verification_uri"] == f"{sandbox.base_url}/device"
    assert start["verification_uri_complete"] == f"{sandbox.base_url}/device?code={start['user_code']}"
    assert (start["interval"], start["expires_in"]) == (5, 1800)
    pending = token(http, sandbox, start["device_code"])
    # 200, like the official gateway: uno-cli 1.0.7 gives up on any 400 from /oauth/token.
    assert (pending.status_code, pending.json()["error"]) == (200, "authorization_pending")
    page = http.get(start["verification_uri_complete"])
    assert start["user_code"] in page.text
    assert 'action="/device/approve"' in page.text and 'formaction="/device/deny"' in page.text
    approved = http.post(f"{sandbox.base_url}/device/approve", data={"user_code": start["user_code"]})
    assert approved.status_code == 200
    too_soon = token(http, sandbox, start["device_code"])
    assert too_soon.json()["error"] == "slow_down"


def test_token_after_approval_is_a_working_key(make_sandbox: Callable[..., SandboxGateway],
                                               http: httpx.Client) -> None:
    sb = make_sandbox(token_error_status=400)
    start = start_login(http, sb)
    pending = token(http, sb, start["device_code"])
    assert (pending.status_code, pending.json()["error"]) == (400, "authorization_pending")
    denied_start = start_login(http, sb)
    http.post(f"{sb.base_url}/device/deny", data={"user_code": denied_start["user_code"]})
    assert token(http, sb, denied_start["device_code"]).json()["error"] == "access_denied"
    fresh = start_login(http, sb)
    http.post(f"{sb.base_url}/device/approve", data={"user_code": fresh["user_code"]})
    answer = token(http, sb, fresh["device_code"])
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer" and body["scope"] == "mcp:gpt-image-2"
    me = http.get(f"{sb.base_url}/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.json()["email"] == "sandbox@example.invalid"


def test_device_page_escapes_what_it_echoes(sandbox: SandboxGateway, http: httpx.Client) -> None:
    page = http.get(f"{sandbox.base_url}/device", params={"code": "<script>alert(1)</script>"})
    assert page.status_code == 404
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;" in page.text
    assert http.post(f"{sandbox.base_url}/device/approve", data={"user_code": "NOPE-NOPE"}).status_code == 404


# --- introspection, CDN origin, binding ------------------------------------------------


def test_stats_count_gateway_requests_but_not_introspection(sandbox: SandboxGateway, http: httpx.Client) -> None:
    http.get(f"{sandbox.base_url}/health")
    http.get(f"{sandbox.base_url}/v1/tools")
    created = http.post(f"{sandbox.base_url}/_sandbox/accounts", json={"name": "Bo", "email": "bo@example.invalid"})
    assert created.json()["api_key"].startswith("uno_sbx_")
    stats = http.get(f"{sandbox.base_url}/_sandbox/stats").json()
    assert stats["requests"] == 2
    assert stats == sandbox.stats()
    assert {"email": "bo@example.invalid", "credits": 3000} in stats["accounts"]


def test_separate_cdn_serves_images_from_another_origin_and_counts_auth_headers(
    make_sandbox: Callable[..., SandboxGateway], http: httpx.Client
) -> None:
    sb = make_sandbox(delay=0, separate_cdn=True)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    url = result_data(call(http, sb, key, RESULT, {"job_id": job_id, "wait_seconds": 5}))["items"][0]["url"]
    assert urlsplit(url).port != sb.port and url.startswith(sb.image_base_url)
    assert http.get(url).status_code == 200
    assert sb.stats()["cdn_authorization_headers"] == 0
    assert http.get(url, headers={"Authorization": f"Bearer {key}"}).status_code == 200
    stats = sb.stats()
    assert (stats["cdn_requests"], stats["cdn_authorization_headers"]) == (2, 1)
    assert http.get(f"{sb.base_url}{urlsplit(url).path}").status_code == 404
    assert http.get(f"{sb.image_base_url}/v1/auth/me").status_code == 404


def test_padding_makes_big_downloads(make_sandbox: Callable[..., SandboxGateway], http: httpx.Client) -> None:
    sb = make_sandbox(delay=0, image_padding_bytes=4 * 1024 * 1024)
    key = sb.create_account(email="a@example.invalid")
    job_id = submit(http, sb, key)
    url = result_data(call(http, sb, key, RESULT, {"job_id": job_id}))["items"][0]["url"]
    image = http.get(url).content
    assert len(image) > 4 * 1024 * 1024
    assert parse_png(image).width == 1024


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com", "::ffff:127.0.0.1"])
def test_non_loopback_hosts_are_refused_before_binding(host: str) -> None:
    assert not is_loopback_host(host)
    with pytest.raises(NonLoopbackHost):
        SandboxGateway(SandboxConfig(host=host))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts_are_accepted(host: str) -> None:
    assert is_loopback_host(host)


def test_ipv6_loopback_serves(make_sandbox: Callable[..., SandboxGateway], http: httpx.Client) -> None:
    try:
        sb = make_sandbox(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    assert sb.base_url.startswith("http://[::1]:")
    assert http.get(f"{sb.base_url}/health").status_code == 200
