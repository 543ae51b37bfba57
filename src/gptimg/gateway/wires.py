"""Which wire a ``GatewayClient`` moves its bytes on: the gateway's choice, not the caller's.

A short-lived process (the agent CLI: one or two requests, then exit) gets the
standard library's ``http.client``, because importing httpx would cost more than
the call. It speaks ``http://`` proxies itself (``gateway.proxies``), so a proxy
never forces httpx onto that path; only a proxy it cannot speak (``socks5://``)
does. Long-lived processes (the human CLI, batches) get one pooled httpx client.
"""

from __future__ import annotations

from gptimg.gateway.wire import Wire


def choose_wire(*, short_lived: bool, max_connections: int, user_agent: str) -> Wire:
    if short_lived:
        from gptimg.gateway.proxies import stdlib_can_speak_proxies

        if stdlib_can_speak_proxies():
            from gptimg.gateway.stdlib_wire import StdlibWire

            return StdlibWire(user_agent)
    from gptimg.gateway._httpx import HttpxWire

    return HttpxWire(max_connections=max_connections, user_agent=user_agent)
