"""The state machine on a fake clock: device codes, jobs, credits, fail-rate sequence."""

from __future__ import annotations

from typing import Any

import pytest

from faketime import FakeTime
from gptimg.sandbox import SandboxConfig
from gptimg.sandbox.failures import ApiFailure
from gptimg.sandbox.state import SandboxState, TokenError, normalise_user_code
from gptimg.sandbox.validation import SubmitArguments


def make_state(**overrides: Any) -> tuple[SandboxState, FakeTime]:
    time = FakeTime()
    return SandboxState(SandboxConfig(**overrides), clock=time.clock), time


def poll_error(state: SandboxState, device_code: str) -> str:
    with pytest.raises(TokenError) as caught:
        state.poll_token(device_code)
    return caught.value.code


def test_pending_then_token_once_approved_then_code_is_spent() -> None:
    state, clock = make_state(interval=5)
    grant = state.start_device("uno-cli", "mcp:gpt-image-2")
    assert poll_error(state, grant.device_code) == "authorization_pending"
    state.decide_device(grant.user_code.lower().replace("-", " "), approve=True)
    clock.now += 5
    key, granted = state.poll_token(grant.device_code)
    assert key.startswith("uno_sbx_") and len(key) == len("uno_sbx_") + 32
    assert granted.scope == "mcp:gpt-image-2"
    assert state.account_for_key(key).email == "sandbox@example.invalid"
    clock.now += 5
    assert poll_error(state, grant.device_code) == "invalid_grant"


def test_approval_before_the_first_poll_gives_the_token_at_once() -> None:
    state, _ = make_state()
    grant = state.start_device("uno-cli", "mcp:*")
    state.decide_device(grant.user_code, approve=True)
    key, _ = state.poll_token(grant.device_code)
    assert state.account_for_key(key).name == "Sandbox User"


def test_polling_sooner_than_the_interval_is_slow_down_and_adds_five_seconds() -> None:
    state, clock = make_state(interval=5)
    grant = state.start_device("c", "s")
    assert poll_error(state, grant.device_code) == "authorization_pending"
    clock.now += 4.9
    assert poll_error(state, grant.device_code) == "slow_down"
    assert grant.interval == 10
    clock.now += 9.9
    assert poll_error(state, grant.device_code) == "slow_down"
    clock.now += 15
    assert poll_error(state, grant.device_code) == "authorization_pending"


def test_code_expires_after_expires_in() -> None:
    state, clock = make_state(expires_in=60)
    grant = state.start_device("c", "s")
    clock.now += 60
    assert poll_error(state, grant.device_code) == "expired_token"
    with pytest.raises(ApiFailure) as caught:
        state.decide_device(grant.user_code, approve=True)
    assert caught.value.code == "expired_token"


def test_denial_is_access_denied_and_cannot_be_turned_into_approval() -> None:
    state, _ = make_state()
    grant = state.start_device("c", "s")
    state.decide_device(grant.user_code, approve=False)
    assert poll_error(state, grant.device_code) == "access_denied"
    with pytest.raises(ApiFailure) as caught:
        state.decide_device(grant.user_code, approve=True)
    assert caught.value.status == 409


def test_auto_approve_approves_at_first_poll() -> None:
    state, _ = make_state(auto_approve=True)
    grant = state.start_device("c", "s")
    key, _ = state.poll_token(grant.device_code)
    assert state.account_for_key(key).email == "sandbox@example.invalid"


def test_unknown_codes_are_refused() -> None:
    state, _ = make_state()
    assert poll_error(state, "nope") == "invalid_grant"
    with pytest.raises(ApiFailure) as caught:
        state.decide_device("BCDF-GHJK", approve=True)
    assert caught.value.status == 404


def test_approval_with_an_email_logs_into_that_account() -> None:
    state, _ = make_state(credits=900)
    grant = state.start_device("c", "s")
    state.decide_device(grant.user_code, approve=True, email="Second@Example.invalid")
    key, _ = state.poll_token(grant.device_code)
    account = state.account_for_key(key)
    assert (account.email, account.credits) == ("Second@Example.invalid", 900)


def test_user_code_normalisation() -> None:
    assert normalise_user_code("bcdf ghjk") == "BCDF-GHJK"
    assert normalise_user_code("BCDFGHJK") == "BCDF-GHJK"


def test_job_goes_pending_running_done_on_the_clock() -> None:
    state, clock = make_state(delay=10)
    account = state.account_for_key(state.create_account("A", "a@x.invalid"))
    job = state.submit(account, SubmitArguments(prompt="p"), recharge_url="r")
    assert state.job_status(job) == "pending"
    clock.now += 2.5
    assert state.job_status(job) == "running"
    clock.now += 7.5
    assert state.job_status(job) == "done"


def test_fail_trigger_in_prompt_ends_the_job_in_error() -> None:
    state, clock = make_state(delay=1)
    account = state.account_for_key(state.create_account("A", "a@x.invalid"))
    job = state.submit(account, SubmitArguments(prompt="draw [sandbox:fail] please"), recharge_url="r")
    clock.now += 1
    assert state.job_status(job) == "error"
    assert state.finished_job(job.job_id) is None


def test_submit_debits_the_price_and_refuses_a_short_balance_without_debiting() -> None:
    state, _ = make_state()
    account = state.account_for_key(state.create_account("A", "a@x.invalid", credits=500))
    state.submit(account, SubmitArguments(prompt="p"), recharge_url="http://h/pricing")
    assert account.credits == 200
    with pytest.raises(ApiFailure) as caught:
        state.submit(account, SubmitArguments(prompt="p"), recharge_url="http://h/pricing")
    assert caught.value.status == 402
    assert caught.value.body()["recharge_url"] == "http://h/pricing"
    assert account.credits == 200
    assert state.stats()["submits"] == 1


def test_another_accounts_job_looks_exactly_like_a_missing_one() -> None:
    state, _ = make_state()
    owner = state.account_for_key(state.create_account("A", "a@x.invalid"))
    other = state.account_for_key(state.create_account("B", "b@x.invalid"))
    job = state.submit(owner, SubmitArguments(prompt="secret"), recharge_url="r")
    assert state.job_for(owner, job.job_id) is job
    with pytest.raises(ApiFailure) as theirs:
        state.job_for(other, job.job_id)
    with pytest.raises(ApiFailure) as missing:
        state.job_for(other, "000000000000")
    assert theirs.value.status == missing.value.status == 404
    assert theirs.value.code == missing.value.code == "job_not_found"


def test_same_email_gets_another_key_to_the_same_account() -> None:
    state, _ = make_state()
    first = state.account_for_key(state.create_account("A", "a@x.invalid"))
    second = state.account_for_key(state.create_account("A", "A@x.invalid"))
    assert first is second


def test_unknown_key_is_invalid_api_key() -> None:
    state, _ = make_state()
    for key in (None, "", "uno_sbx_" + "0" * 32):
        with pytest.raises(ApiFailure) as caught:
            state.account_for_key(key)
        assert (caught.value.status, caught.value.code) == (401, "invalid_api_key")


def failure_sequence(seed: int, rate: float, polls: int = 200) -> list[str | None]:
    state, _ = make_state(fail_rate=rate, seed=seed)
    return [state.draw_poll_failure() for _ in range(polls)]


def test_fail_rate_is_deterministic_for_a_seed_and_alternates_502_and_429() -> None:
    first = failure_sequence(7, 0.3)
    assert first == failure_sequence(7, 0.3)
    assert first != failure_sequence(8, 0.3)
    injected = [kind for kind in first if kind]
    assert 30 <= len(injected) <= 90  # about 60 of 200
    assert injected[:4] == ["502", "429", "502", "429"]


def test_fail_rate_zero_never_fails_and_one_always_fails() -> None:
    assert set(failure_sequence(1, 0.0)) == {None}
    assert None not in failure_sequence(1, 1.0)
