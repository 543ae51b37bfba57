"""Opening a URL or a file for the person, only where someone can see it.

Under CI, over SSH or on a Unix without a display there is no screen to open
anything on, and ``webbrowser`` would fall back to a text browser that takes
over the terminal (or hang a CI job). So we open nothing there and say what to
open instead. ``GPTIMG_NO_BROWSER`` turns it off everywhere (tests, kiosks).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Set by the common CI systems; any of them means nobody is looking at a screen.
CI_VARIABLES = ("CI", "BUILD_NUMBER", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "TF_BUILD", "JENKINS_URL")
SSH_VARIABLES = ("SSH_CONNECTION", "SSH_CLIENT", "SSH_TTY")
DISPLAY_VARIABLES = ("DISPLAY", "WAYLAND_DISPLAY", "MIR_SOCKET")


def why_not_open(environ: Mapping[str, str] | None = None, platform: str | None = None) -> str | None:
    """The reason not to open anything here, or None when opening is sensible."""
    env = os.environ if environ is None else environ
    platform = sys.platform if platform is None else platform
    if env.get("GPTIMG_NO_BROWSER", "").strip() not in ("", "0"):
        return "GPTIMG_NO_BROWSER is set"
    if any(env.get(name, "").strip().lower() not in ("", "0", "false") for name in CI_VARIABLES):
        return "running under CI"
    if any(env.get(name) for name in SSH_VARIABLES):
        return "running over SSH"
    if platform not in ("darwin", "win32", "cygwin") and not any(env.get(name) for name in DISPLAY_VARIABLES):
        return "no display"
    return None


def why_not_url(url: str) -> str | None:
    """Why ``url`` (sent by a server) must not be handed to a browser, or None when it may.

    Only ``https``, or ``http`` to a loopback host (the sandbox): a login server could
    otherwise make us open ``javascript:``, ``file:`` or ``data:`` URLs, or pass the
    browser an argument beginning with ``--`` that Chromium reads as a flag.
    """
    from urllib.parse import urlsplit

    from gptimg.loopback import is_loopback_host
    from gptimg.terminal import has_unsafe

    if not url or url != url.strip() or url.startswith("-") or has_unsafe(url) or any(c.isspace() for c in url):
        return "not a plain link"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 -- raises ValueError for a port that is not a number
    except ValueError:
        return "not a valid link"
    if parts.scheme == "https" and host:
        return None
    if parts.scheme == "http" and host and is_loopback_host(host):
        return None
    return "only https links are opened"


def open_url(url: str) -> bool:
    """Open ``url`` in the default browser when sensible and safe; True when a browser took it."""
    if why_not_open() is not None or why_not_url(url) is not None:
        return False
    import webbrowser

    try:
        return bool(webbrowser.open(url, new=2))
    except Exception:  # a broken browser setup is not worth failing a login over
        return False


def open_files(paths: Sequence[Path]) -> bool:
    """Show saved images in the system viewer when sensible; True when every one was handed over."""
    if why_not_open() is not None or not paths:
        return False
    ok = True
    for path in paths:
        try:
            if sys.platform == "win32":
                os.startfile(str(path))  # type: ignore[attr-defined]
                continue
            command = ["open", str(path)] if sys.platform == "darwin" else ["xdg-open", str(path)]
            # Detached and silent: the viewer outlives us and its chatter must not reach our stdout.
            subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            ok = False
    return ok
