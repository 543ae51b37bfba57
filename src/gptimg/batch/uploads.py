"""A batch's local reference images, uploaded once each however many lines name them.

Many lines of a manifest often share one product photo; uploading it per line would
send the same bytes again and again. The first line that needs a file uploads it; the
others reuse its locator. Remote references (URLs, earlier uploads) pass as they are.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from gptimg.gateway import GatewayClient
from gptimg.references import check_reference


class ReferenceUploads:
    """The locator each reference of this batch goes by; safe to share between the workers."""

    def __init__(self, client: GatewayClient) -> None:
        self._client = client
        self._lock = threading.Lock()
        self._known: dict[str, str] = {}

    def field(self, refs: Sequence[str] | None) -> str | None:
        """The submit's reference field for ``refs`` (None without any), uploading what is new."""
        if not refs:
            return None
        locators: list[str] = []
        for ref in refs:
            with self._lock:
                known = self._known.get(ref)
            if known is None:
                checked = check_reference(ref, strict=True)
                if checked.needs_upload:
                    assert checked.data is not None and checked.media_type is not None
                    known = self._client.upload(checked.data, checked.media_type)
                else:
                    assert checked.locator is not None
                    known = checked.locator
                with self._lock:
                    self._known[ref] = known
            locators.append(known)
        return ",".join(locators)
