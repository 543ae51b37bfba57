"""A read-only sequence whose items are built when they are read, not kept.

A batch's manifest lines (``manifest_spill.SpilledManifest``) and its plan
(``plan.PlannedLines``) are both read as sequences, by index and by slice, but
hold only a few bytes a line and rebuild an item on access: that is what keeps a
batch's memory flat at any length. The index and slice rules live here once;
each subclass says only how to build the item at a position.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Generic, TypeVar, Union, overload

T = TypeVar("T")


class LazySequence(Sequence[T], Generic[T]):
    """``seq[i]`` (negative too) and ``seq[a:b]``, from the subclass's ``__len__`` and ``_item``."""

    def _item(self, position: int) -> T:
        """The item at ``position``, already in ``range(len(self))``."""
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: Union[int, slice]) -> Union[T, list[T]]:
        positions = range(len(self))
        if isinstance(index, slice):
            return [self._item(position) for position in positions[index]]
        return self._item(positions[index])
