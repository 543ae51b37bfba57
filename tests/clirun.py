"""The one record of a CLI run, whether it ran as a real process or in this one."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass
class Run:
    """One CLI run: exit code and both streams."""

    code: int
    out: str
    err: str
    #: The human CLI's ``--json`` promise: one JSON document on one line (``json()`` checks it).
    one_line: bool = False

    def json(self) -> Any:
        """stdout as one JSON document; fails the test loudly on anything else."""
        if self.one_line:
            lines = [line for line in self.out.splitlines() if line.strip()]
            assert len(lines) == 1, f"expected one JSON line on stdout, got: {self.out!r}"
        try:
            return json.loads(self.out)
        except ValueError as err:
            raise AssertionError(f"stdout is not one JSON document ({err}):\n{self}") from None

    def __str__(self) -> str:
        return f"rc={self.code}\nstdout={self.out}\nstderr={self.err}"
