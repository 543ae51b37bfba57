"""Files: uploading a reference image and streaming a finished image to disk.

A download may leave the gateway's origin (images are often on a CDN), so the key
is attached only on the gateway's own origin and redirects are followed by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urljoin

from gptimg import errors
from gptimg.gateway.answers import DownloadInfo
from gptimg.gateway.bodies import (
    BodyTooLarge,
    UnsupportedEncoding,
    body_into,
    check_download_url,
    deadline_in,
)
from gptimg.gateway.errormap import DOWNLOAD, http_error, transport_error
from gptimg.gateway.exchange import GatewayExchange, user_agent
from gptimg.gateway.urls import origin, same_origin
from gptimg.gateway.wire import Response, WireFailure

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up (gptimg.records)
if TYPE_CHECKING:
    from typing import IO

DOWNLOAD_READ_TIMEOUT = 60.0
#: A whole image download, however slowly its bytes arrive (a per-read timeout never trips on a byte a second).
DOWNLOAD_TOTAL_SECONDS = 600.0
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
UPLOAD_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


class FileTransfers(GatewayExchange):
    """Uploads and downloads over the exchange core's wire and retry policy."""

    def upload(self, data: bytes, content_type: str) -> str:
        """Upload a reference image; return a comma-free URL (or file id) to use instead."""
        if content_type not in UPLOAD_TYPES:
            raise errors.InvalidArguments(f"Cannot upload {content_type}: only PNG, JPEG, WebP and GIF.")
        if len(data) > MAX_UPLOAD_BYTES:
            raise errors.InvalidArguments("A reference image may be at most 8 MiB.")
        body = self._retrying(
            lambda: self._exchange(
                "POST", "/v1/files", content=data, content_type=content_type, auth=True, read_timeout=120.0
            )[1],
            retry=True,
        )
        if isinstance(body, dict):
            for key in ("url", "file_id"):
                value = body.get(key)
                if isinstance(value, str) and value and "," not in value:
                    return value
        raise errors.InvalidResponse("The upload answer carried no usable url or file_id.", body=body)

    def download(
        self, url: str, sink: IO[bytes], *, max_bytes: int | None = None, deadline: float | None = None
    ) -> DownloadInfo:
        """Stream ``url`` into ``sink`` (empty, as a new file is; rewound and emptied on each retry). Free, so retried.

        The key is attached only when ``url`` is on the gateway's own origin, and
        redirects are followed by hand so it never crosses to another host.
        Ends by ``DOWNLOAD_TOTAL_SECONDS`` or ``deadline`` (``time.monotonic``), retries included.
        """
        check_download_url(url)
        until = deadline_in(DOWNLOAD_TOTAL_SECONDS, deadline)

        retried = False

        def attempt() -> DownloadInfo:
            nonlocal retried
            if retried:  # not before the first: on a new file that was five system calls an image for nothing
                sink.seek(0)
                sink.truncate()
            retried = True
            with self._open_download(url, until) as response:
                try:
                    size = body_into(response, sink, max_bytes=max_bytes, until=until)
                except BodyTooLarge:
                    raise errors.InvalidResponse(f"The image at {_host_of(url)} is larger than allowed.") from None
                except UnsupportedEncoding as exc:
                    raise errors.InvalidResponse(
                        f"The image at {_host_of(url)} came in an encoding we cannot read ({exc})."
                    ) from None
                sink.flush()
                content_type = self._scrubbed(response.headers.get("content-type") or "")
                return DownloadInfo(content_type=content_type, size=size)

        return self._retrying(attempt, retry=True, deadline=until)

    @contextmanager
    def _open_download(self, url: str, until: float | None = None) -> Iterator[Response]:
        current = url
        for _ in range(6):
            headers = {"Accept": "image/*,*/*;q=0.5", "Accept-Encoding": "identity", "User-Agent": user_agent()}
            if self._api_key is not None and same_origin(current, self.base_url):
                headers["Authorization"] = self._authorization()
            try:
                response = self._wire.send(
                    "GET", current, headers=headers, content=None,
                    timeouts=self._timeouts(DOWNLOAD_READ_TIMEOUT, until),
                )
            except WireFailure as failure:
                raise transport_error(failure, _host_of(current)) from None
            location = response.headers.get("location")
            if response.status_code in _REDIRECTS and location:
                response.close()
                try:
                    current = urljoin(current, location)
                    check_download_url(current)
                except (ValueError, errors.InvalidResponse):
                    raise errors.InvalidResponse(f"Refusing a redirect to an unusable URL from {_host_of(url)}.") from None
                continue
            try:
                failure = http_error(
                    response.status_code, None, response.headers, host=_host_of(current), purpose=DOWNLOAD
                )
                if failure is not None:
                    raise failure
                try:
                    yield response
                except WireFailure as failure:
                    raise transport_error(failure, _host_of(current)) from None
            finally:
                response.close()
            return
        raise errors.InvalidResponse(f"Too many redirects downloading from {_host_of(url)}.")


def _host_of(url: str) -> str:
    try:
        return origin(url)[1] or "the image host"
    except ValueError:
        return "the image host"
