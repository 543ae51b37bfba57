"""The suite tests this checkout, not whichever gptimg is installed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"


def test_in_process_imports_come_from_this_checkout() -> None:
    import gptimg

    assert Path(gptimg.__file__).resolve().is_relative_to(SRC)


@pytest.mark.e2e
def test_subprocesses_import_this_checkout_too() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "import gptimg; print(gptimg.__file__)"], capture_output=True, text=True, check=True
    )
    assert Path(out.stdout.strip()).resolve().is_relative_to(SRC)
