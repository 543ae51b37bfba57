"""``gptimg.records.Record`` builds what ``typing.NamedTuple`` builds, without importing ``typing``."""

from __future__ import annotations

import pickle
from typing import NamedTuple

import pytest

from gptimg.gateway.proxies import Proxy
from gptimg.gateway.wire import Timeouts
from gptimg.records import Record


class Point(Record):
    """A point, for the test."""

    x: int
    y: int = 0
    label: str = ""

    @property
    def norm1(self) -> int:
        return abs(self.x) + abs(self.y)

    def moved(self, dx: int) -> Point:
        return self._replace(x=self.x + dx)


class TypedPoint(NamedTuple):
    """A point, for the test."""

    x: int
    y: int = 0
    label: str = ""


def test_a_record_is_the_same_kind_of_tuple_as_a_typing_named_tuple() -> None:
    point = Point(3, label="a")
    typed = TypedPoint(3, label="a")
    assert point == typed == (3, 0, "a")
    assert Point.__mro__[1:] == TypedPoint.__mro__[1:] == (tuple, object)
    assert Point._fields == TypedPoint._fields and Point._field_defaults == TypedPoint._field_defaults
    assert point._asdict() == typed._asdict() and repr(point) == "Point(x=3, y=0, label='a')"
    assert Point.__doc__ == TypedPoint.__doc__ and Point.__module__ == TypedPoint.__module__ == __name__
    assert list(Point.__annotations__) == ["x", "y", "label"]
    x, y, label = point
    assert (x, y, label) == (3, 0, "a")
    with pytest.raises(AttributeError):
        point.x = 4  # type: ignore[misc]


def test_methods_and_properties_of_the_class_body_are_kept() -> None:
    point = Point(-2, 5)
    assert point.norm1 == 7
    assert point.moved(3) == Point(1, 5)


def test_records_pickle_by_name_like_any_named_tuple() -> None:
    for value in (Point(1, 2, "p"), Timeouts(connect=1.0, read=2.0), Proxy("proxy.invalid", 3128, None)):
        assert pickle.loads(pickle.dumps(value)) == value
        assert type(pickle.loads(pickle.dumps(value))) is type(value)


def test_a_field_without_default_after_one_with_is_refused_as_typing_does() -> None:
    with pytest.raises(TypeError):
        class Bad(Record):  # noqa: F841 - defining it is the test
            x: int = 0
            y: int


def test_the_named_tuple_machinery_cannot_be_overwritten() -> None:
    with pytest.raises(AttributeError):
        class Bad(Record):  # noqa: F841 - defining it is the test
            x: int

            def _replace(self, **changes: object) -> Bad:  # noqa: ARG002
                return self
