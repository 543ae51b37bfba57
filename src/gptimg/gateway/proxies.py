"""Proxy settings from the environment, read once for both wires.

The one list of proxy variables lives here: the httpx wire uses it to decide
whether to let httpx read the environment, the standard-library wire uses it to
tunnel (CONNECT for https, absolute-form requests for http). Only ``http://``
proxy URLs are spoken by the standard-library wire; anything else (``socks5://``)
makes ``gateway.wires`` pick httpx instead.

Loopback targets are never proxied: the sandbox lives there, and a plain-http
request through a proxy would hand the bearer token to the proxy in clear text.
"""

from __future__ import annotations

import os
from urllib.parse import unquote, urlsplit

from gptimg.records import Record

#: Every variable that can route gptimg's traffic through a proxy (lower-case wins, like curl).
PROXY_VARIABLES = ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")
NO_PROXY_VARIABLES = ("no_proxy", "NO_PROXY")


class Proxy(Record):
    """An ``http://`` proxy: where to connect, and the Proxy-Authorization value if any."""

    host: str
    port: int
    authorization: str | None


def any_proxy_configured() -> bool:
    return any(os.environ.get(name) for name in PROXY_VARIABLES)


def _first(*names: str) -> str:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return ""


def proxy_url_for(scheme: str) -> str:
    """The configured proxy URL for ``scheme`` (``http`` / ``https``), or ``""``."""
    specific = ("https_proxy", "HTTPS_PROXY") if scheme == "https" else ("http_proxy", "HTTP_PROXY")
    return _first(*specific, "all_proxy", "ALL_PROXY")


def stdlib_can_speak_proxies() -> bool:
    """False when a configured proxy is not ``http://`` (the standard-library wire cannot reach it)."""
    for scheme in ("http", "https"):
        url = proxy_url_for(scheme)
        if url and "://" in url and not url.lower().startswith("http://"):
            return False
    return True


def bypassed(host: str, port: int | None) -> bool:
    """NO_PROXY: ``*``, exact hosts, domain suffixes (``.example.com`` or ``example.com``), optional ``:port``."""
    from gptimg.loopback import is_loopback_host

    host = host.lower().strip("[]")
    if is_loopback_host(host):
        return True
    for entry in _first(*NO_PROXY_VARIABLES).split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and port is not None and entry_port != str(port):
            continue
        name = name.lstrip(".").strip("[]")
        if host == name or host.endswith("." + name):
            return True
    return False


def proxy_for(url: str) -> Proxy | None:
    """The ``http://`` proxy to use for ``url``, or None to connect directly."""
    parts = urlsplit(url)
    scheme = (parts.scheme or "http").lower()
    configured = proxy_url_for(scheme)
    port = parts.port or (443 if scheme == "https" else 80)
    if not configured or bypassed(parts.hostname or "", port):
        return None
    if "://" not in configured:
        configured = "http://" + configured
    proxy = urlsplit(configured)
    if proxy.scheme.lower() != "http" or not proxy.hostname:
        return None
    authorization = None
    if proxy.username is not None:
        import base64

        pair = f"{unquote(proxy.username)}:{unquote(proxy.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    return Proxy(proxy.hostname, proxy.port or 80, authorization)
