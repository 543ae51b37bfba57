"""How the human CLI speaks: results on stdout, everything else on stderr.

With ``--json`` stdout carries exactly one envelope, ``{"success": true, "data",
"meta"}`` or ``{"success": false, "error", "hint", ...}``, so pipes and agents
read it; progress, prompts and warnings always go to stderr. Every payload
passes through the masking chokepoint first.
"""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any, Callable

from gptimg.errors import GptimgError
from gptimg.redaction import JsonText, document, json_lines_without_secrets, strip_secrets
from gptimg.terminal import json_text, neutralise

if TYPE_CHECKING:
    from rich.console import Console


#: ``emit_json(flush=False)`` writes anyway once this many lines are held (a re-run reports 5,000 at once).
MAX_HELD_LINES = 256


class Output:
    """Where a command's words go: stdout for results (or the one envelope), stderr for the rest.

    A plain class, not a dataclass: building a dataclass's methods costs ~1 M instructions at
    every start (callgrind), and nothing compares or prints an ``Output``.
    """

    def __init__(self, json_mode: bool = False) -> None:
        self.json_mode = json_mode
        self.secrets: list[str] = []
        #: True once an envelope is on stdout: a second one would break ``json.loads`` for the reader.
        self.emitted = False
        self._out: Console | None = None
        self._err: Console | None = None
        self._held: list[dict[str, Any] | JsonText] = []

    # The consoles are made on first use: ``--version`` and a ``--json`` answer never load rich's console.
    @property
    def out(self) -> Console:
        if self._out is None:
            self._out = safe_console(soft_wrap=True, highlight=False)
        return self._out

    @out.setter
    def out(self, console: Console) -> None:
        self._out = console

    @property
    def err(self) -> Console:
        if self._err is None:
            if _is_terminal(sys.stderr):
                self._err = safe_console(stderr=True, soft_wrap=True, highlight=False)
            else:
                self._err = PlainConsole()  # type: ignore[assignment]
        return self._err

    @err.setter
    def err(self, console: Console) -> None:
        self._err = console

    def emit_json(self, payload: dict[str, Any] | JsonText, *, flush: bool = True) -> None:
        """One JSON document on its own line of stdout; ``flush=False`` holds it for the next ``flush`` (a batch's
        lines arriving together are written, and searched for secrets, at once)."""
        self._held.append(payload)
        self.emitted = True
        if flush or len(self._held) >= MAX_HELD_LINES:
            self.flush()

    def flush(self) -> None:
        """Write the JSON lines ``emit_json`` held, in order, each through the masking chokepoint."""
        if not self._held:
            return
        held, self._held = self._held, []
        if _speaks_utf8(sys.stdout):
            block = json_lines_without_secrets(held, self.secrets)
        else:  # \u escapes where stdout cannot carry UTF-8 (C locale, a code page): the JSON stays exact
            block = "\n".join(json.dumps(strip_secrets(document(payload), self.secrets), ensure_ascii=True,
                                          default=str)
                              for payload in held)
        sys.stdout.write(json_text(block) + "\n")
        sys.stdout.flush()

    def success(self, data: Any, *, meta: dict[str, Any] | None = None, human: Callable[[], None] | None = None) -> None:
        """Print a result: the envelope with ``--json``, else whatever ``human`` draws."""
        if self.json_mode:
            self.emit_json({"success": True, "data": data, "meta": meta or {}})
        elif human is not None:
            human()

    def failure(self, exc: GptimgError) -> int:
        """Report an error once, in the right form; returns its exit code."""
        if self.json_mode:
            payload = exc.to_dict()
            payload["exit_code"] = exc.exit_code
            self.emit_json(payload)
        else:
            self.error(exc.message, exc.hint)
        return exc.exit_code

    def error(self, message: str, hint: str | None = None) -> None:
        message = self.scrub(message)
        self.err.print(f"[bold red]error:[/] {_escape(message)}")
        if hint:
            self.err.print(f"[dim]hint:[/] {_escape(self.scrub(hint))}")

    def warn(self, message: str) -> None:
        self.err.print(f"[yellow]warning:[/] {_escape(self.scrub(message))}")

    def info(self, message: str) -> None:
        """A line for the person (stderr), markup allowed."""
        self.err.print(message)

    def scrub(self, text: str) -> str:
        return strip_secrets(text, self.secrets)


#: rich's markup tags, and its escape rule (a backslash before ``[`` makes it literal).
_TAG = re.compile(r"(\\*)\[([a-z#/@][^\[]*?)\]")


def _escape(text: str) -> str:
    """rich.markup.escape, without importing rich (the same rule, so rich renders it alike)."""
    escaped = _TAG.sub(lambda m: f"{m.group(1)}{m.group(1)}\\[{m.group(2)}]", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        escaped += "\\"
    return escaped


def plain_text(markup: str) -> str:
    """What rich would print for ``markup``, minus the styling: tags dropped, escapes undone."""

    def render(match: re.Match[str]) -> str:
        pairs, escaped = divmod(len(match.group(1)), 2)
        return "\\" * pairs + (f"[{match.group(2)}]" if escaped else "")

    return _TAG.sub(render, markup)


def _speaks_utf8(stream: Any) -> bool:
    encoding = (getattr(stream, "encoding", None) or "utf-8").lower().replace("-", "").replace("_", "")
    return encoding.startswith("utf")


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PlainConsole:
    """Stands in for rich's Console on a stderr that is not a terminal (a pipe, a log, an agent).

    Lines there are plain text anyway, and rich's console costs ~35 ms to import: a
    short ``--json`` run should not pay that to write two lines. Anything richer than
    a string (a table, a prompt) goes to a real Console, made on first need.
    """

    is_terminal = False
    is_dumb_terminal = False

    def __init__(self) -> None:
        self._console: Console | None = None

    def _real(self) -> Console:
        if self._console is None:
            self._console = safe_console(stderr=True, soft_wrap=True, highlight=False)
        return self._console

    def print(self, *objects: Any, markup: bool = True, highlight: bool | None = None, end: str = "\n",
              **kwargs: Any) -> None:
        if kwargs or not all(isinstance(item, str) for item in objects):
            self._real().print(*objects, markup=markup, highlight=highlight, end=end, **kwargs)
            return
        text = " ".join(plain_text(item) if markup else item for item in objects)
        sys.stderr.write(neutralise(text) + end)
        sys.stderr.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real(), name)


_SAFE_CONSOLE: type | None = None


def safe_console(**kwargs: Any) -> Console:
    """A rich Console that shows control characters in what it prints as visible escapes.

    The one chokepoint for the human CLI: tables, panels, the live progress line and
    plain prints all end as segments in ``_render_buffer``, so an escape sequence in
    a gateway message, a status, an account name or a prompt is neutralised there,
    whichever renderable carried it. Rich's own cursor moves are control segments and
    pass untouched; a link target with control characters is neutralised too (OSC 8).
    """
    global _SAFE_CONSOLE
    if _SAFE_CONSOLE is None:
        from rich.console import Console
        from rich.segment import Segment

        class SafeConsole(Console):
            def _render_buffer(self, buffer: Any) -> str:
                return super()._render_buffer(_neutral_segments(buffer, Segment))

        _SAFE_CONSOLE = SafeConsole
    return _SAFE_CONSOLE(**kwargs)  # type: ignore[no-any-return]


def _neutral_segments(buffer: Any, segment_type: Any) -> Any:
    for text, style, control in buffer:
        if control:
            yield segment_type(text, style, control)
            continue
        if style is not None and style.link and _unsafe_link(style.link):
            style = style.update_link(None)
        yield segment_type(neutralise(text), style, control)


def _unsafe_link(url: str) -> bool:
    """A hyperlink (OSC 8) target we would not open ourselves is not made clickable either."""
    from gptimg.cli.browser import why_not_url

    return why_not_url(url) is not None
