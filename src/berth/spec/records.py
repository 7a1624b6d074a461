"""Record classes for hot paths, without the ``dataclasses`` module.

``dataclasses`` imports ``inspect`` (and through it ``ast``, ``dis``, ``tokenize``): about 10 ms of
every ``berth ps`` or ``berth run``, whose whole runs are tens of milliseconds. ``record`` makes the
same kind of class from its annotations (an ``__init__`` with the defaults, ``__repr__``,
``__eq__``; with ``frozen``, no assignment and a ``__hash__``; with ``order``, the comparisons),
``field(default_factory=...)`` gives a fresh mutable default, and ``replace`` copies a record with
some fields changed. Type checkers see a dataclass (PEP 681 ``dataclass_transform``). The engine,
the image store and the image spec's types use it; the layer code, used only when unpacking or
packing, keeps ``dataclasses`` for its ``slots``.
"""

from __future__ import annotations

TYPE_CHECKING = False  # importing typing costs a command ~2 ms; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, TypeVar, dataclass_transform

    _T = TypeVar("_T")
    _C = TypeVar("_C", bound=type)
    _R = TypeVar("_R")
else:

    def dataclass_transform(**_kw: object) -> object:
        return lambda f: f


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


def field(*, default_factory: Callable[[], _T]) -> _T:
    """A field whose default is made by ``default_factory`` for each new record."""
    return _Factory(default_factory)  # type: ignore[return-value]


def replace(obj: _R, **changes: Any) -> _R:
    """A copy of the record ``obj`` with ``changes`` applied (as ``dataclasses.replace``)."""
    values = {n: getattr(obj, n) for n in type(obj).__record_fields__}  # type: ignore[attr-defined]
    unknown = set(changes) - set(values)
    if unknown:
        raise TypeError(f"{type(obj).__name__} has no field {sorted(unknown)[0]!r}")
    values.update(changes)
    return type(obj)(**values)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise AttributeError(f"cannot assign to field {name!r} of a frozen {type(self).__name__}")


def _make(cls: _C, frozen: bool, order: bool) -> _C:
    # inspect.get_annotations would import inspect, which is what this module avoids.
    names = list(cls.__dict__.get("__annotations__", {}))  # noqa: RUF063
    defaults: dict[str, object] = {}
    factories: dict[str, Callable[[], object]] = {}
    for name in names:
        default = cls.__dict__.get(name, _Factory)
        if isinstance(default, _Factory):
            factories[name] = default.make
            delattr(cls, name)  # a factory is no class-level default
        elif default is not _Factory:
            defaults[name] = default
        elif defaults or factories:
            raise TypeError(f"{cls.__name__}.{name}: a field without a default follows one with a default")
    fields = tuple(names)
    cls.__init__ = _initializer(cls.__qualname__, fields, defaults, factories)  # type: ignore[misc]
    cls.__record_fields__ = fields  # type: ignore[attr-defined]

    def __repr__(self: object) -> str:
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in fields)
        return f"{type(self).__name__}({inner})"

    def __eq__(self: object, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in fields)

    def __hash__(self: object) -> int:
        return hash(tuple(getattr(self, n) for n in fields))

    # As dataclasses do, methods the class defines itself are kept.
    own = cls.__dict__
    if "__repr__" not in own:
        cls.__repr__ = __repr__  # type: ignore[assignment,method-assign]
    if "__eq__" not in own:
        cls.__eq__ = __eq__  # type: ignore[assignment,method-assign]
    if order:
        _add_order(cls, fields)
    if frozen:
        cls.__setattr__ = _frozen_setattr  # type: ignore[assignment,method-assign]
    if own.get("__hash__") is None:  # not defined, or None because the class defined __eq__
        cls.__hash__ = __hash__ if frozen else None  # type: ignore[assignment,method-assign]
    return cls


def _initializer(
    qualname: str,
    fields: tuple[str, ...],
    defaults: dict[str, object],
    factories: dict[str, Callable[[], object]],
) -> Callable[..., None]:
    """The ``__init__`` of a record: arguments by position or name, as a dataclass's.

    One generic function rather than one generated per class: compiling generated source cost ~85 µs
    a class, ~3 ms of every ``berth run``, for an ``__init__`` a few hundred nanoseconds faster.
    """
    count = len(fields)
    assign = object.__setattr__  # frozen records refuse ``self.name = value``

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        if len(args) > count:
            raise TypeError(f"{qualname}() takes {count} positional arguments but {len(args)} were given")
        for name, value in zip(fields, args, strict=False):
            assign(self, name, value)
        for name in fields[len(args) :]:
            if name in kwargs:
                value = kwargs.pop(name)
            elif name in factories:
                value = factories[name]()
            elif name in defaults:
                value = defaults[name]
            else:
                raise TypeError(f"{qualname}() missing required argument {name!r}")
            assign(self, name, value)
        for name in kwargs:
            what = "multiple values for" if name in fields else "an unexpected keyword"
            raise TypeError(f"{qualname}() got {what} argument {name!r}")

    __init__.__qualname__ = f"{qualname}.__init__"
    return __init__


def _add_order(cls: type, fields: tuple[str, ...]) -> None:
    """``<``, ``<=``, ``>``, ``>=`` comparing the fields in order, as a dataclass with ``order``."""

    def key(obj: object) -> tuple[Any, ...]:
        return tuple(getattr(obj, n) for n in fields)

    def compare(test: Callable[[tuple[Any, ...], tuple[Any, ...]], bool]) -> Callable[[Any, Any], Any]:
        def method(self: object, other: object) -> Any:
            if type(other) is not type(self):
                return NotImplemented
            return test(key(self), key(other))

        return method

    setattr(cls, "__lt__", compare(lambda a, b: a < b))  # noqa: B010  # mypy: no such attribute on type
    setattr(cls, "__le__", compare(lambda a, b: a <= b))  # noqa: B010
    setattr(cls, "__gt__", compare(lambda a, b: a > b))  # noqa: B010
    setattr(cls, "__ge__", compare(lambda a, b: a >= b))  # noqa: B010


@dataclass_transform(field_specifiers=(field,))
def record(cls: _C | None = None, *, frozen: bool = False, order: bool = False) -> Any:
    """Class decorator: a record class from the annotated fields (``@record``,
    ``@record(frozen=True)``, ``@record(frozen=True, order=True)``)."""
    if cls is None:
        return lambda c: _make(c, frozen, order)
    return _make(cls, frozen, order)


def as_dict(obj: object) -> dict[str, Any]:
    """A record's fields as a dict, lists and dicts copied (as ``dataclasses.asdict``)."""

    def copy(value: Any) -> Any:
        if isinstance(value, list):
            return [copy(v) for v in value]
        if isinstance(value, dict):
            return {k: copy(v) for k, v in value.items()}
        return value

    return {n: copy(getattr(obj, n)) for n in type(obj).__record_fields__}  # type: ignore[attr-defined]
