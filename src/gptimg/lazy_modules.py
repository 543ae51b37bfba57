"""Standard modules a library imports at its own import time, loaded instead when first used.

``dataclasses`` imports ``inspect`` (with ``ast``, ``dis``, ``tokenize``: 26 M
instructions, callgrind) but on Python 3.9-3.11 reads it only to write a docstring for a
dataclass that has none; ``gptimg generate`` never needs it, yet every start paid for it.

``loaded_on_first_use("inspect")`` around ``import dataclasses`` puts a stand-in in
``sys.modules`` for the duration of that import only, so the library's own module-level
name is bound to the stand-in and every later ``import inspect`` anywhere gets the real
module as usual. The stand-in's first attribute read imports the real module (the import
system's lock makes that thread-safe) and takes over its namespace, so from then on the
library sees exactly the real module, paying the import when it is used.
"""

from __future__ import annotations

import importlib
import sys
import types
from contextlib import contextmanager

TYPE_CHECKING = False  # ``typing`` stays out of the agent CLI's start-up
if TYPE_CHECKING:
    from collections.abc import Iterator


class ModuleOnFirstUse(types.ModuleType):
    """What a library holds as ``name`` until it reads anything from it."""

    def __getattr__(self, attribute: str) -> object:
        if sys.modules.get(self.__name__) is self:  # read while the library is still being imported
            del sys.modules[self.__name__]
        real = importlib.import_module(self.__name__)
        self.__dict__.update(real.__dict__)  # later reads are plain attribute lookups
        return getattr(real, attribute)


@contextmanager
def loaded_on_first_use(*names: str) -> Iterator[None]:
    """Within the block, ``import NAME`` of a module not yet loaded binds a ``ModuleOnFirstUse``."""
    placed: dict[str, types.ModuleType] = {}
    for name in names:
        if name not in sys.modules:
            placed[name] = sys.modules[name] = ModuleOnFirstUse(name)
    try:
        yield
    finally:
        for name, stand_in in placed.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]
