"""The standard-library wire's keep-alive pool, against servers that break keep-alive on purpose.

Reusing a connection is where a submit could be paid twice: a request written on a
connection the server has closed fails, and a wire that "helpfully" resends it on a
fresh connection charges again whenever the first copy did arrive. The promise: a
stale idle connection is found out *before* anything is written on it (the next
request goes on a fresh connection); a failure after the request was written on a
reused connection ends "outcome unknown" (exit 7), never a second submit.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Callable

import pytest

from gptimg import errors
from gptimg.gateway import GatewayClient
from gptimg.gateway.retry import NO_RETRY
from gptimg.gateway.stdlib_wire import StdlibWire
from gptimg.image_tool import RESULT_TOOL, SUBMIT_TOOL

from .conftest import Cli
from .faultproxy import Fault, FaultProxy, Seen
from .scripted import ScriptedGateway

KEY = "uno_keepalive_" + "3" * 32


@pytest.fixture
def client_for() -> Iterator[Callable[[str], GatewayClient]]:
    made: list[GatewayClient] = []

    def make(base_url: str) -> GatewayClient:
        client = GatewayClient(base_url, KEY, wire=StdlibWire("gptimg-test"), retry=NO_RETRY)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


def poll(client: GatewayClient) -> str:
    result = client.call_tool(RESULT_TOOL, {"job_id": "job123456", "wait_seconds": 0}, timeout=5, retry=False)
    return str(result.data.get("status"))


def submit(client: GatewayClient) -> str:
    return str(client.submit({"prompt": "a red fox"}).data.get("job_id"))


def test_one_connection_serves_every_request_of_a_client(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient]
) -> None:
    gateway = make_scripted()
    client = client_for(gateway.base_url)
    assert [poll(client) for _ in range(20)] == ["done"] * 20
    submit(client)
    assert gateway.connections_opened == 1


def test_threads_share_the_pool_without_mixing_answers(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient]
) -> None:
    gateway = make_scripted()
    client = client_for(gateway.base_url)
    seen: list[str] = []
    failures: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            for round_ in range(15):
                job = f"job{index:03d}{round_:03d}"
                result = client.call_tool(RESULT_TOOL, {"job_id": job, "wait_seconds": 0}, timeout=5, retry=False)
                seen.append(job if result.data.get("job_id") == job else f"mixed up: {job}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not failures and len(seen) == 120 and not [s for s in seen if s.startswith("mixed")]
    assert gateway.connections_opened <= 8  # reused, never more than one connection per thread at once


def test_a_connection_the_server_closed_after_answering_is_not_used_for_the_submit(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient]
) -> None:
    gateway = make_scripted()
    gateway.close_after_answer = True
    client = client_for(gateway.base_url)
    assert poll(client) == "done"
    assert gateway.wait_closed(1)  # the server hung up without "Connection: close"

    assert submit(client) == gateway.job_id  # on a fresh connection: answered, charged once
    assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 1
    assert gateway.connections_opened == 2


def test_a_connection_the_server_dropped_for_idleness_is_not_used_for_the_submit(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient]
) -> None:
    gateway = make_scripted()
    gateway.idle_timeout = 0.2
    client = client_for(gateway.base_url)
    assert poll(client) == "done"
    assert gateway.wait_closed(1)  # idle too long: the server closed it

    assert submit(client) == gateway.job_id
    assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 1
    assert gateway.connections_opened == 2


def test_a_submit_read_then_dropped_on_a_reused_connection_is_unknown_and_never_resent(
    make_scripted: Callable[..., ScriptedGateway], make_proxy: Callable[..., FaultProxy],
    client_for: Callable[[str], GatewayClient],
) -> None:
    gateway = make_scripted()

    def rule(seen: Seen) -> Fault | None:
        return Fault("reset", forward_first=True) if seen.tool == SUBMIT_TOOL else None

    proxy = make_proxy(gateway.base_url, rule)
    client = client_for(proxy.base_url)
    assert poll(client) == "done"  # the connection the submit will reuse

    with pytest.raises(errors.SubmitOutcomeUnknown):
        submit(client)
    assert proxy.connections_opened == 1, "the submit went on the reused connection"
    assert len(gateway.seen(f"CALL {SUBMIT_TOOL}")) == 1, "it arrived (and was charged) once, and was not resent"
    assert poll(client) == "done"  # the broken connection was not put back: the next call works


def test_a_submit_half_read_then_dropped_on_a_reused_connection_is_unknown_and_never_resent(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient]
) -> None:
    gateway = make_scripted()
    cut: list[str] = []

    def cut_calls_after_the_first(method: str, path: str) -> int | None:
        if method == "POST" and gateway.seen(f"CALL {RESULT_TOOL}"):
            cut.append(path)
            return 10
        return None

    gateway.cut_body = cut_calls_after_the_first
    client = client_for(gateway.base_url)
    assert poll(client) == "done"

    with pytest.raises(errors.SubmitOutcomeUnknown):
        submit(client)
    assert cut == ["/v1/call"], "sent once, on the reused connection; never again on a fresh one"
    assert gateway.connections_opened == 1


@pytest.mark.e2e
@pytest.mark.parametrize("closing", ["after-answer", "when-idle"])
def test_generate_against_a_server_that_closes_keepalive_connections_pays_at_most_once(
    closing: str, make_scripted: Callable[..., ScriptedGateway], cli: Callable[..., Cli], tmp_path: object,
) -> None:
    """The human CLI, a real process: every request after the first may meet a dead connection."""
    gateway = make_scripted()
    if closing == "after-answer":
        gateway.close_after_answer = True
    else:
        gateway.idle_timeout = 0.05
    user = cli(gateway.base_url)
    user.login(KEY)

    ran = user.gptimg("generate", "a red fox", "--yes", "--json", "--out", str(tmp_path))

    submits = len(gateway.seen(f"CALL {SUBMIT_TOOL}"))
    assert ran.code in (0, 7), ran
    assert submits <= 1, "a submit was sent twice"
    [row] = user.journal_rows()
    if ran.code == 0:
        assert submits == 1 and row["status"] == "done" and row["job_id"] == gateway.job_id
    else:  # the close raced the submit on a reused connection: honest "unknown", never resent
        assert ran.json()["error"] == "outcome_unknown" and row["status"] == "unknown"
    assert "Traceback" not in ran.err


def test_a_connection_idle_past_the_limit_is_closed_not_reused(
    make_scripted: Callable[..., ScriptedGateway], client_for: Callable[[str], GatewayClient],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Servers commonly drop idle connections after 5 s; a request written just then would end "unknown"."""
    import time
    import types

    from gptimg.gateway import pool

    gateway = make_scripted()
    client = client_for(gateway.base_url)
    assert poll(client) == "done" and poll(client) == "done"
    assert gateway.connections_opened == 1
    later = time.monotonic() + pool.MAX_IDLE_SECONDS
    monkeypatch.setattr(pool, "time", types.SimpleNamespace(monotonic=lambda: later))  # the pool's clock only
    assert poll(client) == "done"
    assert gateway.connections_opened == 2
