"""SHA-256 of a few short strings, without loading OpenSSL.

A ``gptimg generate`` hashes three short strings (the job lock's file name, the
submit's idempotency key, an odd job id's file name). ``import hashlib`` loads
OpenSSL's libcrypto and lists every digest it provides first: 12 M instructions
(callgrind), more than a tenth of the command's own start-up. Python's built-in
SHA-256 (``_sha256``; ``_sha2`` from 3.12) gives the same digest for 1 M; where a
build lacks it, ``hashlib`` is used as before.
"""

from __future__ import annotations

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from typing import Any, Callable

_sha256: Callable[[bytes], Any] | None = None


def _constructor() -> Callable[[bytes], Any]:
    global _sha256
    if _sha256 is None:
        try:
            from _sha256 import sha256  # Python 3.9-3.11
        except ImportError:
            try:
                from _sha2 import sha256  # Python 3.12+
            except ImportError:  # a build without the built-in hashes
                from hashlib import sha256
        _sha256 = sha256
    return _sha256


def sha256_hex(data: bytes) -> str:
    """``hashlib.sha256(data).hexdigest()``."""
    return _constructor()(data).hexdigest()


def sha256_digest(data: bytes) -> bytes:
    """``hashlib.sha256(data).digest()``."""
    return _constructor()(data).digest()


def blake2b_256(data: bytes = b"") -> Any:
    """``hashlib.blake2b(data, digest_size=32)``: for a megabyte, not a few strings (the built-in SHA-256 is ~7x
    slower than OpenSSL's with the CPU's SHA instructions; BLAKE2b, built in too, is ~2.5x faster than it)."""
    try:
        from _blake2 import blake2b
    except ImportError:  # a build without it
        from hashlib import blake2b
    return blake2b(data, digest_size=32)
