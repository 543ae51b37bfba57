"""What ``GatewayClient`` needs from an HTTP library, and nothing more.

The client owns policy (which origin gets the key, timeouts, retries, error
types); a wire only moves bytes. Two wires exist: the standard library's
sockets with a keep-alive pool (``stdlib_wire``: every process, because it costs
almost nothing to import and less CPU per request) and httpx (``_httpx``: only for
a proxy the first cannot speak, such as ``socks5://``). ``gateway.wires`` chooses,
with the figures.

A wire reports "no HTTP answer" as ``WireFailure``; ``errormap`` turns that into
the public error types, so both wires fail in exactly the same words.
"""

from __future__ import annotations

from collections.abc import Iterator

from gptimg.records import Record

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import Protocol
else:
    Protocol = object  # the protocols below are for type checkers; nothing checks them at run time

#: ``WireFailure.kind`` values.
REFUSED = "refused"  # nothing listening / unreachable: certainly not sent
DNS = "dns"  # the host name did not resolve: not sent
TLS = "tls"  # the handshake failed: not sent
CONNECT_TIMEOUT = "connect_timeout"  # not sent
READ_TIMEOUT = "read_timeout"  # sent; no answer in time
DROPPED = "dropped"  # sent (maybe in part); the connection broke before a full answer


class Timeouts(Record):
    connect: float
    read: float
    write: float = 30.0


class WireFailure(Exception):
    """No (complete) HTTP answer. ``arrived`` says the server may have acted on the request."""

    def __init__(self, kind: str, *, arrived: bool, detail: str = "") -> None:
        super().__init__(f"{kind}: {detail}" if detail else kind)
        self.kind = kind
        self.arrived = arrived


class Headers(Protocol):
    def get(self, name: str, default: str | None = None) -> str | None: ...  # case-insensitive


class Response(Protocol):
    status_code: int
    headers: Headers

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        """The body as sent (no content decoding), in chunks as they arrive; a broken connection
        mid-body raises ``WireFailure(DROPPED)``."""
        ...

    def close(self) -> None: ...


class Wire(Protocol):
    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes | None, timeouts: Timeouts
    ) -> Response:
        """Send one request and return once the status line and headers are in (body still streaming)."""
        ...

    def close(self) -> None: ...
