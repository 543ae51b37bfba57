"""``gptimg.digests``: the built-in SHA-256 gives exactly ``hashlib``'s digest (lock names, idempotency keys)."""

from __future__ import annotations

import hashlib

import pytest

from gptimg.digests import sha256_hex


@pytest.mark.parametrize("data", [b"", b"a", b"job_123", "gptimg-\u00e9\U0001f98a".encode(), bytes(range(256)) * 70])
def test_sha256_hex_is_hashlibs_digest(data: bytes) -> None:
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()


def test_a_lock_name_and_an_odd_job_ids_file_name_are_what_they_were() -> None:
    from gptimg.jobs.naming import safe_job_id

    odd = "job/../x \u00e9"
    assert safe_job_id(odd) == "job" + hashlib.sha256(odd.encode("utf-8", "surrogatepass")).hexdigest()[:16]
