"""Which gateway we talk to, and which origins may see the key.

The key is a bearer token: whoever sees it can spend the user's credits. So it
goes only to the gateway's own origin, and only over HTTPS, with one exception:
plain HTTP to a loopback address, where the sandbox gateway lives.
"""

from __future__ import annotations

import os
from functools import lru_cache
from urllib.parse import urlsplit

from gptimg.errors import InsecureTransport, InvalidConfig
from gptimg.loopback import is_loopback_host

DEFAULT_BASE_URL = "https://agentools.uno"
#: Redirects to the real host and drops the Authorization header on the way.
LOOKALIKE_HOSTS = ("clawtools.uno",)


def resolve_base_url(flag: str | None = None) -> str:
    """``--base-url`` beats ``UNO_API_URL`` beats the default; validated and without a trailing slash."""
    raw = (flag or os.environ.get("UNO_API_URL", "") or DEFAULT_BASE_URL).strip()
    return validate_base_url(raw)


def validate_base_url(raw: str) -> str:
    if any(char.isspace() or not char.isprintable() for char in raw):
        # urlsplit silently drops tabs and newlines, so the raw string must be checked first.
        raise InvalidConfig(
            f"Not a usable gateway URL (it has spaces or control characters): {raw!r}",
            hint="Give a full URL such as https://agentools.uno (--base-url or UNO_API_URL).",
        )
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidConfig(
            f"Not a usable gateway URL: {raw!r}",
            hint="Give a full URL such as https://agentools.uno (--base-url or UNO_API_URL).",
        )
    try:
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number in 0..65535
    except ValueError:
        raise InvalidConfig(f"The gateway URL has an unusable port: {raw!r}") from None
    if parts.query or parts.fragment:
        raise InvalidConfig(f"The gateway URL must not carry a query or fragment: {raw!r}")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise InsecureTransport(
            f"Refusing plain http to {parts.hostname}: the API key would travel unencrypted."
        )
    return raw.rstrip("/")


@lru_cache(maxsize=128)
def origin(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) with default ports filled in, for same-origin checks.

    Remembered: each download asks it of the gateway's URL and of the image's, three or
    four times over (~2.5 % of a batch client's CPU in ``urlsplit``, cProfile).
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


def same_origin(a: str, b: str) -> bool:
    return origin(a) == origin(b)


def base_url_warnings(base_url: str) -> list[str]:
    """Things worth telling a person about a configured URL that still works."""
    host = (urlsplit(base_url).hostname or "").lower()
    if any(host == bad or host.endswith("." + bad) for bad in LOOKALIKE_HOSTS):
        return [
            f"{host} is a look-alike of clawdtools.uno: it redirects and drops the Authorization "
            f"header, so calls will fail as not logged in. Use {DEFAULT_BASE_URL} instead."
        ]
    return []

