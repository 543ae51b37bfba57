"""Which wire a ``GatewayClient`` moves its bytes on: the gateway's choice, not the caller's.

Every process (the human CLI's one-shot commands, batches, the MCP server, the agent
CLI) gets the pooled standard-library wire (``gateway.stdlib_wire``), because the
profile says it is the cheaper one on both counts that matter:

* start-up: it needs only ``socket`` and ``selectors`` (not even ``http.client``, whose
  ``email`` import cost 20-28 ms: ``gptimg.http_errors``), while importing httpx
  (httpcore, h11, idna, ...) costs ~80-100 ms of CPU, most of a human ``generate``'s
  100 ms budget (``python -X importtime``);
* per request: 0.26-0.31 ms of client CPU for a result poll on a kept-alive connection
  against 1.2-1.3 ms through httpx, in the same run (``benchmarks/wire_cpu.py 2000``:
  in-process against the sandbox, ``time.process_time``; 0.51-0.54 ms before the wire
  wrote its own request heads and read answer heads without the email package,
  ``gateway.http1``), which is what a batch of thousands of images pays 3 times per image.

It speaks ``http://`` proxies itself (``gateway.proxies``); only a proxy it cannot speak
(``socks5://``, via httpx's ``socksio`` extra) makes a process use httpx, the architecture's
long-lived-process wire, which stays for that and for tests that mock HTTP with respx.
``short_lived`` (the agent CLI: one or two requests) only keeps the idle pool small.
"""

from __future__ import annotations

from gptimg.gateway.wire import Wire

#: Idle connections a one-shot process keeps (it makes one or two requests, then exits).
SHORT_LIVED_IDLE = 4


def choose_wire(*, short_lived: bool, max_connections: int, user_agent: str) -> Wire:
    from gptimg.gateway.proxies import stdlib_can_speak_proxies

    if stdlib_can_speak_proxies():
        from gptimg.gateway.stdlib_wire import StdlibWire

        return StdlibWire(user_agent, max_idle=SHORT_LIVED_IDLE if short_lived else max_connections)
    from gptimg.gateway._httpx import HttpxWire

    return HttpxWire(max_connections=max_connections, user_agent=user_agent)
