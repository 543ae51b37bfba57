"""Typer's rich ``--help``, without the two parts of rich it loads and never uses for it.

``typer.rich_utils`` renders the help. At import it also runs ``from rich.markdown import
Markdown`` (markdown-it, and pygments through ``rich.syntax``) and ``from rich.traceback
import Traceback`` (``rich.pretty``, attrs): ~120 ms of a ~400 ms ``gptimg --help``. They
serve help written in Markdown (ours is rich markup: ``rich_markup_mode="rich"``) and pretty
tracebacks (``pretty_exceptions_enable=False``).

A stand-in module answers ``from ... import`` with a placeholder class, so that idiom cannot
be deferred by a module stand-in alone: while ``typer.rich_utils`` loads, ``rich.markdown``
and ``rich.traceback`` are stand-ins whose classes are placeholders that load the real class
on first use (a call, an attribute, an ``isinstance``). The stand-ins leave ``sys.modules``
as soon as ``typer.rich_utils`` has loaded, so any later ``import rich.markdown`` gets the
real module. Nothing is loaded before help (or a usage error) is actually rendered.
"""

from __future__ import annotations

import importlib
import sys
import types

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: Module -> the names ``typer.rich_utils`` imports from it.
DEFERRED = {"rich.markdown": ("Markdown",), "rich.traceback": ("Traceback",)}
RICH_UTILS = "typer.rich_utils"


class DeferredClass(type):
    """A placeholder for ``module.Name``: every real use is passed to the real class, loaded then."""

    _module: str

    def real(cls) -> type:
        return getattr(importlib.import_module(cls._module), cls.__name__)  # type: ignore[no-any-return]

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        return cls.real()(*args, **kwargs)

    def __getattr__(cls, attr: str) -> Any:
        return getattr(cls.real(), attr)

    def __instancecheck__(cls, instance: Any) -> bool:
        return isinstance(instance, cls.real())


class _RichUtilsStandIn(types.ModuleType):
    """``typer.rich_utils`` until its first attribute is read; then the real module, loaded lightly."""

    def __getattr__(self, attr: str) -> Any:
        loaded = sys.modules.get(RICH_UTILS)
        real = loaded if loaded is not None and loaded is not self else _load_rich_utils(self)
        return getattr(real, attr)


def install() -> None:
    """Put the stand-in in place (once, cheaply): call before Typer can render help."""
    if RICH_UTILS not in sys.modules:
        sys.modules[RICH_UTILS] = _RichUtilsStandIn(RICH_UTILS)


def _load_rich_utils(stand_in: types.ModuleType) -> types.ModuleType:
    if sys.modules.get(RICH_UTILS) is stand_in:
        del sys.modules[RICH_UTILS]
    placed: dict[str, types.ModuleType] = {}
    for name, classes in DEFERRED.items():
        if name not in sys.modules:
            module = types.ModuleType(name)
            for class_name in classes:
                setattr(module, class_name, DeferredClass(class_name, (), {"_module": name}))
            placed[name] = sys.modules[name] = module
    try:
        return importlib.import_module(RICH_UTILS)
    finally:
        for name, module in placed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
