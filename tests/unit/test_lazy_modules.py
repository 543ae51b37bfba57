"""``gptimg.lazy_modules``: a library's module-level import of NAME loads NAME only when first used."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gptimg.lazy_modules import ModuleOnFirstUse, loaded_on_first_use


@pytest.fixture
def modules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A module ``heavy`` and two libraries importing it: one reads it at import time, one later."""
    (tmp_path / "lazytest_heavy.py").write_text("VALUE = 42\n")
    (tmp_path / "lazytest_eager.py").write_text("import lazytest_heavy\nVALUE = lazytest_heavy.VALUE\n")
    (tmp_path / "lazytest_lazy.py").write_text("import lazytest_heavy\n\ndef value():\n    return lazytest_heavy.VALUE\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in ("lazytest_heavy", "lazytest_eager", "lazytest_lazy"):
        sys.modules.pop(name, None)


def test_the_module_is_loaded_only_when_the_library_first_reads_it(modules: Path) -> None:
    with loaded_on_first_use("lazytest_heavy"):
        lazy = importlib.import_module("lazytest_lazy")
    assert "lazytest_heavy" not in sys.modules  # the stand-in left with the block
    assert isinstance(lazy.lazytest_heavy, ModuleOnFirstUse)
    assert lazy.value() == 42
    real = sys.modules["lazytest_heavy"]
    assert not isinstance(real, ModuleOnFirstUse) and real.__file__ == str(modules / "lazytest_heavy.py")
    assert importlib.import_module("lazytest_heavy") is real  # everyone else gets the real module


def test_a_read_while_the_library_is_still_importing_loads_the_real_module(modules: Path) -> None:
    with loaded_on_first_use("lazytest_heavy"):
        eager = importlib.import_module("lazytest_eager")
    assert eager.VALUE == 42
    assert not isinstance(sys.modules["lazytest_heavy"], ModuleOnFirstUse)


def test_a_module_already_loaded_is_left_as_it_is(modules: Path) -> None:
    real = importlib.import_module("lazytest_heavy")
    with loaded_on_first_use("lazytest_heavy"):
        lazy = importlib.import_module("lazytest_lazy")
    assert lazy.lazytest_heavy is real and sys.modules["lazytest_heavy"] is real
