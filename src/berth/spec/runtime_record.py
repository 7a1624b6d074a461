"""``Record``: immutable typed records that cost nothing to define.

The runtime-spec types are on every container start. ``dataclasses`` and ``typing.NamedTuple``
generate code with ``exec`` for each class, which costs about a millisecond per class at import
(measured with ``python -X importtime``); a plain base class that reads the field names from the
annotations does not. ``dataclass_transform`` tells type checkers the constructor signature, so
records are checked like dataclasses.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Self, dataclass_transform
else:

    def dataclass_transform(**_kwargs):  # type checkers only
        return lambda cls: cls


@dataclass_transform(frozen_default=True)
class Record:
    """Base class: fields are the annotated class attributes, in order; a value there is a default."""

    __slots__ = ()
    _fields: tuple[str, ...] = ()

    def __init_subclass__(cls) -> None:
        cls._fields = tuple(
            # inspect.get_annotations would do, but importing inspect costs what this module saves.
            name
            for name in cls.__dict__.get("__annotations__", {})  # noqa: RUF063
            if not name.startswith("_")
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        fields = self._fields
        if len(args) > len(fields):
            raise TypeError(f"{type(self).__name__}: too many arguments")
        values = dict(zip(fields, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields or name in values:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated argument {name!r}")
            values[name] = value
        for name in fields:
            if name in values:
                object.__setattr__(self, name, values[name])
            elif not hasattr(type(self), name):
                raise TypeError(f"{type(self).__name__}: missing argument {name!r}")

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    __hash__ = None  # type: ignore[assignment]  # fields may hold mappings

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({inner})"

    def replace(self, **changes: Any) -> Self:
        """A copy with ``changes`` applied (like ``dataclasses.replace``)."""
        values = {name: getattr(self, name) for name in self._fields}
        values.update(changes)
        return type(self)(**values)
