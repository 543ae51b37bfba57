"""Idle keep-alive connections of the standard-library wire, kept per origin (and proxy) for reuse.

Reusing a connection saves a TCP (and TLS) handshake and, with it, most of a small
request's CPU. It is also where money can be lost: a connection the server has
already closed looks usable until a request is written on it, and a request that
failed after it was written may have been acted on (a submit may have been
charged). So the pool only hands out a connection that is provably still usable
*before* anything is written, and the wire never resends what it wrote:

* a connection goes back to the pool only when its answer was read to the end and
  the server did not ask to close it (``StdlibWire`` decides that);
* a connection idle for ``MAX_IDLE_SECONDS`` or more is never handed out: the
  commonest server keep-alive limits are 5 s (uvicorn, Node, Apache), and a
  request written just as the server closes would end "outcome unknown";
* before handing one out, its socket is polled (as httpcore's ``is_socket_readable``
  does): an idle keep-alive socket with anything to read has either been closed by
  the server (EOF, a TLS close_notify) or is out of step with it, so it is closed
  and the next one (or a fresh connection) is tried.

Bounded: at most ``max_idle`` idle connections in all; the oldest go first.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from collections import deque
from collections.abc import Hashable

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from gptimg.gateway.connection import Connection

#: Older idle connections are closed, not reused (below the common 5 s server keep-alive limits).
MAX_IDLE_SECONDS = 4.0


def is_socket_readable(connection: Connection) -> bool:
    """True when an idle connection has something to read: EOF, a reset, or bytes nobody asked for."""
    sock = connection.sock
    if sock is None or sock.fileno() < 0:
        return True
    pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted and buffered
    if pending is not None and pending():
        return True
    try:
        if hasattr(select, "poll"):
            return bool(_poller_of(connection, sock).poll(0))
        readable, _, errored = select.select([sock], [], [sock], 0)
        return bool(readable or errored)
    except (OSError, ValueError):
        return True

def _poller_of(connection: Connection, sock: socket.socket) -> select.poll:
    """The connection's ``poll`` object, registered for its socket once, not once a request."""
    kept = getattr(connection, "_gptimg_poller", None)
    if kept is not None and kept[0] is sock:
        return kept[1]
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLERR | select.POLLHUP)
    connection._gptimg_poller = (sock, poller)  # type: ignore[attr-defined]
    return poller


class IdlePool:
    """Thread-safe idle connections by key (scheme, host, port, proxy); most recently used first."""

    def __init__(self, max_idle: int, *, max_idle_seconds: float = MAX_IDLE_SECONDS) -> None:
        self._max_idle = max(0, max_idle)
        self._max_idle_seconds = max_idle_seconds
        self._idle: dict[Hashable, deque[tuple[float, Connection]]] = {}
        self._count = 0
        self._lock = threading.Lock()
        self._closed = False

    def take(self, key: Hashable) -> Connection | None:
        """A still-usable idle connection for ``key``, or None (open a fresh one). Stale ones are closed."""
        while True:
            with self._lock:
                queue = self._idle.get(key)
                if not queue:
                    return None
                since, connection = queue.pop()
                self._count -= 1
            if time.monotonic() - since < self._max_idle_seconds and not is_socket_readable(connection):
                return connection
            connection.close()

    def give_back(self, key: Hashable, connection: Connection) -> None:
        """Keep ``connection`` (its answer read to the end, no ``Connection: close``) for the next request."""
        now = time.monotonic()
        evicted: list[Connection] = []
        with self._lock:
            if self._closed or self._max_idle == 0:
                evicted.append(connection)
            else:
                queue = self._idle.setdefault(key, deque())
                while queue and now - queue[0][0] >= self._max_idle_seconds:
                    evicted.append(queue.popleft()[1])
                    self._count -= 1
                queue.append((now, connection))
                self._count += 1
                while self._count > self._max_idle:
                    evicted.append(self._pop_oldest())
        for stale in evicted:
            stale.close()

    def _pop_oldest(self) -> Connection:
        """The longest-idle connection of any key (called with the lock held, the pool over its bound)."""
        key = min((k for k, q in self._idle.items() if q), key=lambda k: self._idle[k][0][0])
        self._count -= 1
        return self._idle[key].popleft()[1]

    def close(self) -> None:
        with self._lock:
            self._closed = True
            everything = [connection for queue in self._idle.values() for _, connection in queue]
            self._idle.clear()
            self._count = 0
        for connection in everything:
            connection.close()
