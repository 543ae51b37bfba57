"""The one rule for "this host is this machine", used by the key's origin check and the sandbox's bind.

Plain HTTP may carry the key only to loopback, and the sandbox (which hands out
working keys to anyone who asks) may listen only there, so both must agree on
what loopback is. The rule looks at the text alone, never at DNS: a literal
loopback address (127.0.0.0/8, ::1, with or without IPv6 brackets) or the name
``localhost``. Other names, ``*.localhost`` included, are refused: whether they
reach this machine depends on the resolver, and a key sent in the clear to a
name that resolved elsewhere is a key given away.

A leaf module (no gptimg imports) so the agent CLI and the sandbox load it cheaply.
"""

from __future__ import annotations


def is_loopback_host(host: str) -> bool:
    """True for a literal loopback address or ``localhost`` (any case); no DNS lookups."""
    text = host.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    text = text.lower()
    if text in ("localhost", "127.0.0.1", "::1"):
        return True  # the common cases, without importing ipaddress on the agent path
    import ipaddress

    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False
