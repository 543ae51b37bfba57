"""The agent CLI's only way to print: one JSON document, secrets masked, then exit.

Shapes follow uno-cli 1.0.7 so an agent written for one works with the other.
"""

from __future__ import annotations

import json
import sys

from gptimg.redaction import strip_secrets
from gptimg.terminal import json_text

# ``typing`` costs ~5 ms of every agent CLI start; annotations here are never evaluated.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, NoReturn


class Output:
    """Remembers ``--compact`` and the secrets to scrub for the rest of the process."""

    compact: bool = False
    secrets: list[str] = []

    @classmethod
    def emit(cls, payload: Any) -> None:
        safe = strip_secrets(payload, cls.secrets)
        text = json_text(json.dumps(safe, indent=None if cls.compact else 2, ensure_ascii=False, default=str))
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


class Exit(Exception):
    """Raised by handlers to end the command with an exit code after printing."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def ok(data: Any) -> None:
    Output.emit({"success": True, "data": data})


def fail(payload: dict[str, Any], code: int = 1) -> NoReturn:
    Output.emit(payload)
    raise Exit(code)


def fail_message(message: str, *, hint: str | None = None, **extra: Any) -> NoReturn:
    payload: dict[str, Any] = {"success": False, "error": message}
    if hint:
        payload["hint"] = hint
    payload.update(extra)
    fail(payload)
