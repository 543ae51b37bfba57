"""``Record``: ``typing.NamedTuple``'s class syntax, without importing ``typing`` at run time.

The agent CLI imported ``typing`` only for its named tuples and annotations, and ``typing``
costs 12 M instructions to import (callgrind: ~5% of ``bin/uno.py whoami``, which must stay
at 0.8x uno-cli). ``class X(Record)`` with annotated fields, defaults, methods and a
docstring builds what ``class X(NamedTuple)`` builds, as ``typing`` itself does it: a
``collections.namedtuple`` (a tuple: unpacking, ``==``, ``_replace``, ``_asdict``, pickling
by name) with the class body's other attributes copied on. Type checkers read
``typing.NamedTuple`` itself, so every field keeps its type.
"""

from __future__ import annotations

import collections

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple as Record
else:
    #: What ``collections.namedtuple`` defines and a class body may not replace (as in ``typing``).
    _PROHIBITED = frozenset({"__new__", "__init__", "__slots__", "__getnewargs__", "_fields", "_field_defaults",
                             "_make", "_replace", "_asdict", "_source"})
    _SPECIAL = frozenset({"__module__", "__name__", "__annotations__"})

    class _RecordMeta(type):
        def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, object]) -> type:
            if not bases:
                return super().__new__(mcs, name, bases, namespace)  # ``Record`` itself
            annotations = dict(namespace.get("__annotations__", {}))  # type: ignore[call-overload]
            with_default = [field for field in annotations if field in namespace]
            if with_default and list(annotations)[-len(with_default):] != with_default:
                raise TypeError(f"{name}: a field without a default follows one with a default")
            record = collections.namedtuple(  # type: ignore[misc]
                name, list(annotations), defaults=[namespace[field] for field in with_default],
                module=namespace["__module__"],  # type: ignore[arg-type]
            )
            record.__annotations__ = annotations
            for key, value in namespace.items():
                if key in _PROHIBITED:
                    raise AttributeError(f"{name}: cannot overwrite the named tuple's {key}")
                if key not in _SPECIAL and key not in annotations:
                    setattr(record, key, value)
            return record

    class Record(metaclass=_RecordMeta):
        """Base of a named tuple declared with annotated fields (see the module's docstring)."""
