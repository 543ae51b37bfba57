"""RFC 8628 device-code login, and checking a key before it is stored."""

from __future__ import annotations

import json

import httpx
import pytest

from gptimg import auth, errors
from gptimg.credentials import CredentialStore

from ._support import KEY, FakeTime

NEW_KEY = "uno_fresh_key_from_device_flow_0001"
GRANT = {
    "device_code": "dev-123",
    "user_code": "ABCD-EFGH",
    "verification_uri": "https://agentools.uno/device",
    "verification_uri_complete": "https://agentools.uno/device?code=ABCD-EFGH",
    "expires_in": 1800,
    "interval": 3,
}


def pending(status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"error": "authorization_pending"})


def granted() -> httpx.Response:
    return httpx.Response(200, json={"access_token": NEW_KEY, "token_type": "bearer"})


def poll(client, time: FakeTime, **kwargs):
    kwargs.setdefault("interval", 5)
    return auth.poll_device_flow(client, "dev-123", sleep=time.sleep, clock=time.clock, **kwargs)


# --- start ------------------------------------------------------------------------------------


def test_start_requests_the_least_privilege_scope_by_default(gateway, make_client):
    route = gateway.post("/oauth/device/code").respond(200, json=GRANT)

    grant = auth.start_device_flow(make_client(api_key=None))

    assert json.loads(route.calls.last.request.content) == {"client_id": "uno-cli", "scope": "mcp:gpt-image-2"}
    assert "authorization" not in route.calls.last.request.headers
    assert grant.scope == "mcp:gpt-image-2"
    assert grant.device_code == "dev-123"
    assert grant.user_code == "ABCD-EFGH"
    assert grant.interval == 3, "the server's interval is used"
    assert grant.expires_in == 1800


def test_start_scope_is_overridden_by_uno_oauth_scope(gateway, make_client, monkeypatch):
    monkeypatch.setenv("UNO_OAUTH_SCOPE", "mcp:*")
    route = gateway.post("/oauth/device/code").respond(200, json=GRANT)

    grant = auth.start_device_flow(make_client(api_key=None))

    assert json.loads(route.calls.last.request.content)["scope"] == "mcp:*"
    assert grant.scope == "mcp:*"


def test_start_defaults_interval_to_5_and_builds_the_complete_uri(gateway, make_client):
    body = {k: v for k, v in GRANT.items() if k not in ("interval", "verification_uri_complete")}
    gateway.post("/oauth/device/code").respond(200, json=body)

    grant = auth.start_device_flow(make_client(api_key=None))

    assert grant.interval == 5
    assert grant.verification_uri_complete == "https://agentools.uno/device?code=ABCD-EFGH"


def test_start_refused_by_the_server_is_a_device_flow_error(gateway, make_client):
    gateway.post("/oauth/device/code").respond(400, json={"error": "invalid_scope"})

    with pytest.raises(errors.DeviceFlowError) as caught:
        auth.start_device_flow(make_client(api_key=None))

    assert "invalid_scope" in caught.value.message
    assert caught.value.exit_code == errors.EXIT_AUTH


# --- poll -------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 400])
def test_pending_is_read_from_the_body_whether_status_is_200_or_400(gateway, make_client, fake_time, status):
    route = gateway.post("/oauth/token")
    route.side_effect = [pending(status), pending(status), granted()]

    key = poll(make_client(api_key=None), fake_time, interval=4)

    assert key == NEW_KEY
    assert fake_time.sleeps == [4, 4]
    assert json.loads(route.calls.last.request.content) == {
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": "dev-123",
        "client_id": "uno-cli",
    }


def test_slow_down_adds_five_seconds_for_good(gateway, make_client, fake_time):
    gateway.post("/oauth/token").side_effect = [
        pending(),
        httpx.Response(400, json={"error": "slow_down"}),
        pending(400),
        httpx.Response(200, json={"error": "slow_down"}),
        pending(),
        granted(),
    ]

    poll(make_client(api_key=None), fake_time, interval=2)

    assert fake_time.sleeps == [2, 7, 7, 12, 12]


@pytest.mark.parametrize("status", [200, 400])
def test_expired_token_is_device_code_expired(gateway, make_client, fake_time, status):
    gateway.post("/oauth/token").side_effect = [pending(), httpx.Response(status, json={"error": "expired_token"})]

    with pytest.raises(errors.DeviceCodeExpired) as caught:
        poll(make_client(api_key=None), fake_time)

    assert caught.value.exit_code == errors.EXIT_AUTH
    assert caught.value.hint


def test_access_denied_is_access_denied(gateway, make_client, fake_time):
    gateway.post("/oauth/token").respond(400, json={"error": "access_denied"})

    with pytest.raises(errors.AccessDenied):
        poll(make_client(api_key=None), fake_time)

    assert fake_time.sleeps == []


def test_overall_deadline_is_login_timeout(gateway, make_client, fake_time):
    route = gateway.post("/oauth/token").mock(return_value=pending())

    with pytest.raises(errors.LoginTimeout):
        poll(make_client(api_key=None), fake_time, interval=5, expires_in=22)

    assert sum(fake_time.sleeps) <= 22
    assert route.call_count == len(fake_time.sleeps) + 1
    assert fake_time.sleeps == [5, 5, 5, 5]


def test_unknown_oauth_error_ends_the_login(gateway, make_client, fake_time):
    gateway.post("/oauth/token").respond(400, json={"error": "invalid_grant"})

    with pytest.raises(errors.DeviceFlowError) as caught:
        poll(make_client(api_key=None), fake_time)

    assert "invalid_grant" in caught.value.message


def test_token_endpoint_hiccup_is_retried_not_fatal(gateway, make_client, fake_time):
    route = gateway.post("/oauth/token")
    route.side_effect = [httpx.Response(503), granted()]

    assert poll(make_client(api_key=None, base_delay=1.0), fake_time) == NEW_KEY
    assert route.call_count == 2


def test_on_pending_is_called_once_per_wait(gateway, make_client, fake_time):
    gateway.post("/oauth/token").side_effect = [pending(), pending(), granted()]
    ticks: list[int] = []

    poll(make_client(api_key=None), fake_time, on_pending=lambda: ticks.append(1))

    assert len(ticks) == 2


# --- verify and store -------------------------------------------------------------------------


def test_store_verified_key_refused_by_auth_me_stores_nothing(gateway, make_client, tmp_path):
    gateway.get("/v1/auth/me").respond(401, json={"error": "invalid_api_key"})
    store = CredentialStore(tmp_path / ".uno" / "credentials.json")

    with pytest.raises(errors.InvalidApiKey):
        auth.store_verified_key(make_client(api_key=None), store, KEY)

    assert not store.path.exists()
    assert store.accounts() == []


def test_store_verified_key_checks_the_new_key_and_saves_it_active(gateway, make_client, tmp_path):
    route = gateway.get("/v1/auth/me").respond(
        200, json={"id": "u_1", "name": "Ada", "email": "ada@example.com", "credits": 900}
    )
    store = CredentialStore(tmp_path / ".uno" / "credentials.json")

    account = auth.store_verified_key(make_client(api_key="uno_some_other_key_000000"), store, NEW_KEY)

    assert route.calls.last.request.headers["authorization"] == f"Bearer {NEW_KEY}"
    assert "api_key" not in account
    assert store.active_account() == {
        "api_key": NEW_KEY, "name": "Ada", "email": "ada@example.com", "user_id": "u_1", "active": True,
    }


def test_verify_key_with_no_user_in_the_answer_is_refused(gateway, make_client):
    gateway.get("/v1/auth/me").respond(200, json={"credits": 10})

    with pytest.raises(errors.InvalidApiKey):
        auth.verify_key(make_client(api_key=None), KEY)


# --- the one login flow, and the payload both faces print ------------------------------------


def test_the_stored_login_payload_reports_the_files_real_mode(tmp_path) -> None:
    import os

    store = CredentialStore(tmp_path / "credentials.json")
    account = store.save_account(KEY, "Tester", "t@example.invalid", "usr_1")
    payload = auth.stored_login_payload(account, store)
    assert payload == {"name": "Tester", "email": "t@example.invalid", "user_id": "usr_1",
                       "credential_stored_at": str(store.path), "credential_file_mode": "0600"}
    os.chmod(store.path, 0o640)  # a file system that ignored the chmod, say: reported, not papered over
    assert auth.stored_login_payload(account, store)["credential_file_mode"] == "0640"
    assert KEY not in json.dumps(payload)


@pytest.mark.parametrize(
    ("stdin", "expected"),
    [("uno_key_from_a_pipe_0001\n", "uno_key_from_a_pipe_0001"), ("  uno_spaced_0001  \nsecond line\n", "uno_spaced_0001")],
)
def test_key_dash_reads_one_line_of_stdin(stdin: str, expected: str) -> None:
    import io

    assert auth.read_key("-", io.StringIO(stdin)) == expected
    assert auth.read_key(" uno_literal_0001 ") == "uno_literal_0001"


@pytest.mark.parametrize("stdin", ["", "\n", "   \n", "x" * (auth.MAX_KEY_CHARS + 10)])
def test_key_dash_with_nothing_usable_on_stdin_is_a_usage_error(stdin: str) -> None:
    import io

    with pytest.raises(errors.UsageError) as caught:
        auth.read_key("-", io.StringIO(stdin))
    assert caught.value.exit_code == errors.EXIT_BAD_INPUT and caught.value.hint
