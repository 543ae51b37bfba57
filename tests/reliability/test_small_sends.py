"""A request sent with one ``os.write`` (``stdlib_wire._send_small``) arrives whole, or fails loudly.

The fast path writes what the socket takes at once; a hostile or slow peer whose
receive window is full must still get every byte, in order, through ``sendall``,
and a peer that has gone must surface as an error, never as a request half sent
and reported sent.
"""

from __future__ import annotations

import socket
import threading

import pytest

from gptimg.gateway.stdlib_wire import _send_small

pytestmark = pytest.mark.skipif(not hasattr(socket, "socketpair"), reason="needs socketpair")


def _narrow_pair() -> tuple[socket.socket, socket.socket]:
    """A connected pair with small buffers: a write of more than ~8 KiB is taken only in part."""
    sender, receiver = socket.socketpair()
    sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sender.settimeout(5.0)  # as the wire leaves it: timeout mode, non-blocking descriptor
    return sender, receiver


def test_a_request_the_socket_cannot_take_at_once_still_arrives_whole_and_in_order() -> None:
    sender, receiver = _narrow_pair()
    request = b"POST /v1/call HTTP/1.1\r\n" + bytes(range(256)) * 800 + b"\r\n\r\n"  # ~200 KiB
    received = bytearray()

    def drain() -> None:
        while True:
            chunk = receiver.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        _send_small(sender, request)
    finally:
        sender.close()
        reader.join(10)
    assert received == request


def test_a_peer_that_has_gone_is_an_error_not_a_request_sent() -> None:
    sender, receiver = socket.socketpair()
    sender.settimeout(5.0)
    receiver.close()
    with pytest.raises(OSError):
        _send_small(sender, b"GET / HTTP/1.1\r\n\r\n")
    sender.close()
