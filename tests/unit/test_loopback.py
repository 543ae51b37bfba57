"""One loopback rule: the hosts the key may reach over plain HTTP are exactly those the sandbox may bind."""

from __future__ import annotations

import pytest

from gptimg import errors, loopback
from gptimg.gateway import urls
from gptimg.sandbox import config

LOOPBACK = ["127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost", "LOCALHOST", " localhost "]
#: ``*.localhost`` is refused: only the resolver decides where it goes, and the key would travel in the clear.
NOT_LOOPBACK = ["0.0.0.0", "192.168.1.10", "::", "example.com", "::ffff:127.0.0.1", "app.localhost",
                "localhost.example.com", "127.0.0.1.nip.io", ""]


def test_the_client_and_the_sandbox_use_the_same_rule() -> None:
    assert urls.is_loopback_host is loopback.is_loopback_host
    assert config.is_loopback_host is loopback.is_loopback_host


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_hosts_may_use_plain_http_and_host_the_sandbox(host: str) -> None:
    assert loopback.is_loopback_host(host)
    config.check_loopback(host)
    bracketed = f"[{host.strip('[]')}]" if ":" in host else host.strip()
    assert urls.validate_base_url(f"http://{bracketed}:8080") == f"http://{bracketed}:8080"


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_other_hosts_get_neither_plain_http_nor_the_sandbox(host: str) -> None:
    assert not loopback.is_loopback_host(host)
    with pytest.raises(config.NonLoopbackHost):
        config.check_loopback(host)
    if host:
        bracketed = f"[{host}]" if ":" in host else host
        with pytest.raises(errors.InsecureTransport):
            urls.validate_base_url(f"http://{bracketed}:8080")
