"""Record classes made without dataclasses: defaults, fresh mutable defaults, equality, freezing."""

from __future__ import annotations

import subprocess
import sys

import pytest

from berth.spec.records import as_dict, field, record, replace


@record
class _Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@record(frozen=True)
class _Frozen:
    name: str
    size: int = 1


def test_defaults_and_fresh_factories() -> None:
    a, b = _Point(1), _Point(1, 2, ["t"])
    assert (a.x, a.y, a.tags, b.tags) == (1, 0, [], ["t"])
    a.tags.append("mine")
    assert _Point(1).tags == [] and not hasattr(_Point, "tags")
    assert _Point(x=3) == _Point(3, 0, []) and _Point(3) != _Point(4) and _Point(3) != (3, 0, [])
    assert repr(_Point(1)) == "_Point(x=1, y=0, tags=[])"
    with pytest.raises(TypeError):
        _Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        hash(_Point(1))


def test_frozen_and_as_dict() -> None:
    f = _Frozen("a")
    with pytest.raises(AttributeError):
        f.size = 2  # type: ignore[misc]
    assert hash(f) == hash(_Frozen("a", 1)) and {f, _Frozen("a")} == {f}
    p = _Point(1, tags=["a"])
    d = as_dict(p)
    assert d == {"x": 1, "y": 0, "tags": ["a"]} and d["tags"] is not p.tags


def test_field_order_is_checked() -> None:
    with pytest.raises(TypeError, match="without a default follows"):

        @record
        class _Bad:
            a: int = 0
            b: int


def test_ps_path_does_not_import_dataclasses() -> None:
    code = (
        "import sys, berth.engine.containers.inspect, berth.engine.containers.state;"
        " print('dataclasses' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "False\n"


def test_order_compares_fields_in_order() -> None:
    @record(frozen=True, order=True)
    class _Version:
        major: int
        minor: int = 0

    assert sorted([_Version(2), _Version(1, 5), _Version(1, 2)]) == [
        _Version(1, 2),
        _Version(1, 5),
        _Version(2),
    ]
    assert _Version(1) <= _Version(1) < _Version(1, 1)
    with pytest.raises(TypeError):
        assert _Version(1) < (1, 0)


def test_replace_copies_with_changes_and_refuses_unknown_fields() -> None:
    @record(frozen=True)
    class _Pair:
        a: int
        b: list[int] = field(default_factory=list)

    one = _Pair(1, [2])
    two = replace(one, a=3)
    assert two == _Pair(3, [2]) and one == _Pair(1, [2])
    with pytest.raises(TypeError, match="no field 'c'"):
        replace(one, c=1)


def test_methods_the_class_defines_are_kept() -> None:
    @record(frozen=True)
    class _Keyed:
        key: str
        extra: dict[str, str] = field(default_factory=dict)

        def __hash__(self) -> int:
            return hash(self.key)

        def __repr__(self) -> str:
            return f"<{self.key}>"

    assert hash(_Keyed("k", {"a": "b"})) == hash("k")
    assert repr(_Keyed("k")) == "<k>"


def test_image_and_spec_types_do_not_import_dataclasses() -> None:
    code = (
        "import sys, berth.image.catalog, berth.image.images, berth.image.snapshots,"
        " berth.engine.containers.create, berth.engine.containers.start, berth.engine.containers.remove;"
        " print('dataclasses' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "False\n"
