"""The sandbox's request handler: one dispatcher and one route table over the route families.

Why here: this is the only place that maps (method, path) to a route, so the
gateway's endpoint list reads in one table, and the only place that turns what a
route raised into an answer — an :class:`ApiFailure` becomes its JSON error, a
dropped client closes quietly, and anything else is a sandbox bug answered with
a 500 and its traceback on the sandbox's stderr.
"""

from __future__ import annotations

import socket
import sys
import time
import traceback
from typing import Callable
from urllib.parse import parse_qs, urlsplit

from .failures import ApiFailure
from .routes_account import AccountRoutes
from .routes_device import DeviceFlowRoutes
from .routes_files import CDN_PATH, FILE_PATH, FileRoutes
from .routes_tools import ToolRoutes

#: (method, path) -> the route method's name; built once, not per request (building a dict of
#: bound methods for every request was ~4% of the sandbox's CPU in a batch).
_EXACT_ROUTES: dict[tuple[str, str], str] = {
    ("GET", "/health"): "route_health",
    ("POST", "/oauth/device/code"): "route_device_code",
    ("POST", "/oauth/token"): "route_token",
    ("GET", "/device"): "route_device_page",
    ("POST", "/device/approve"): "route_device_approve",
    ("POST", "/device/deny"): "route_device_deny",
    ("GET", "/v1/auth/me"): "route_me",
    ("GET", "/v1/tools"): "route_tools",
    ("POST", "/v1/files"): "route_upload",
    ("POST", "/v1/call"): "route_call",
    ("GET", "/v1/usage/history"): "route_usage_history",
    ("GET", "/v1/usage/summary"): "route_usage_summary",
    ("GET", "/pricing"): "route_pricing",
    ("GET", "/_sandbox/stats"): "route_stats",
    ("POST", "/_sandbox/accounts"): "route_create_account",
}
_EXACT_PATHS = frozenset(path for _, path in _EXACT_ROUTES)


class SandboxHandler(DeviceFlowRoutes, ToolRoutes, FileRoutes, AccountRoutes):
    """One connection; methods named ``route_*`` are the gateway's endpoints."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_HEAD(self) -> None:
        self._dispatch("HEAD")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        if self.server.stopping:
            # A request read after stop() (on a kept-alive connection) is not served: close unanswered,
            # as a gateway that went away would. Linux queues data even after shutdown(SHUT_RD).
            self.close_connection = True
            return
        started = time.perf_counter()
        self._started = started
        self._status = 0
        self._head = method == "HEAD"
        parts = urlsplit(self.path)
        path = parts.path
        self._query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        try:
            try:
                self._consume_body(path)
                handler = self._route(method if method != "HEAD" else "GET", path)
                handler(path)
            except ApiFailure as failure:
                self._send_json(failure.status, failure.body(), failure.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:  # a sandbox bug: answer 500 and show the traceback to whoever runs it
            traceback.print_exc(file=sys.stderr)
            self.close_connection = True
            try:
                self._send_json(500, {"error": "internal_error", "message": "sandbox bug; see its stderr"})
            except OSError:
                pass
        if self.gateway.config.verbose:
            elapsed = (time.perf_counter() - started) * 1000
            sys.stderr.write(f"sandbox: {method} {path} -> {self._status} ({elapsed:.0f} ms)\n")
            sys.stderr.flush()

    def _route(self, method: str, path: str) -> Callable[[str], None]:
        if self.server.role == "cdn":
            if method == "GET" and CDN_PATH.match(path):
                return self.route_cdn_image
            raise ApiFailure(404, "not_found", "The image host serves only /cdn/ image files.")
        if not path.startswith("/_sandbox/"):
            self.state.count_request()
        name = _EXACT_ROUTES.get((method, path))
        if name is not None:
            return getattr(self, name)
        if method == "GET":
            if path.startswith("/v1/tools/"):
                return self.route_tool
            if FILE_PATH.match(path):
                return self.route_file
            if CDN_PATH.match(path) and not self.gateway.config.separate_cdn:
                return self.route_cdn_image
        if path in _EXACT_PATHS:
            raise ApiFailure(405, "method_not_allowed", f"{method} is not allowed on {path}.")
        raise ApiFailure(404, "not_found", f"No such endpoint: {path}")
