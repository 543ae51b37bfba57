"""The byte-carrying routes: uploads in (``/v1/files``), stored files and generated images out.

Why together: these are the routes whose bodies are bytes rather than JSON,
with the path patterns that name them. The CDN image route also serves the
separate image-host listener (``--separate-cdn``), which counts whether the
client wrongly sent its key there.
"""

from __future__ import annotations

import re

from . import images
from .failures import ApiFailure
from .handler_base import HandlerBase
from .state import UPLOAD_TYPES

CDN_PATH = re.compile(r"^/cdn/([0-9a-f]{6,32})/(\d{1,2})\.png$")
FILE_PATH = re.compile(r"^/files/(f_[0-9a-f]{32})$")


class FileRoutes(HandlerBase):
    """``route_*`` methods for uploads, stored files and rendered images."""

    def route_upload(self, path: str) -> None:
        self.state.account_for_key(self._api_key())
        data = self._read_body()
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype not in UPLOAD_TYPES:
            raise ApiFailure(415, "unsupported_media_type",
                             f"Upload an image: one of {', '.join(sorted(UPLOAD_TYPES))}.")
        if not data:
            raise ApiFailure(400, "empty_file", "The upload is empty.")
        stored = self.state.store_file(ctype, data)
        self._send_json(200, {"url": f"{self.gateway.base_url}/files/{stored.file_id}",
                              "file_id": stored.file_id, "size": len(data), "content_type": ctype})

    def route_file(self, path: str) -> None:
        stored = self.state.get_file(path[len("/files/"):])
        if stored is None:
            raise ApiFailure(404, "not_found", "No such file.")
        self._send(200, stored.data, stored.content_type)

    def route_cdn_image(self, path: str) -> None:
        self.state.count_cdn_request(self.headers.get("Authorization") is not None)
        match = CDN_PATH.match(path)
        assert match is not None
        job = self.state.finished_job(match.group(1))
        index = int(match.group(2))
        if job is None or index >= job.args.n:
            raise ApiFailure(404, "not_found", "No such image.")
        png = images.render_image(job.args.prompt, job.args.style, job.args.size, index)
        parts = images.png_parts(png, self.gateway.config.image_padding_bytes)
        self._send(200, parts, "image/png", {"Cache-Control": "public, max-age=86400"})
