"""Typed reading of one YAML mapping, every error naming the field's path.

Kubernetes objects are nested mappings; a reader (``Fields``) wraps one of them with its path
(``spec.containers[1]``) and hands out its fields as checked Python values, so a wrong type is
reported as ``spec.containers[1].ports[0].containerPort: expected an integer``. A ``null`` value
counts as absent, as the Kubernetes API reads it.
"""

from __future__ import annotations

from berth.errors import InvalidArgument

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any


def join(path: str, key: str) -> str:
    """The path of field ``key`` below ``path``."""
    return f"{path}.{key}" if path else key


class Fields:
    """One mapping of a manifest and where it sits (``path``, "" at a document's top)."""

    def __init__(self, data: Any, path: str = "") -> None:
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise InvalidArgument(f"{path or 'document'}: expected a mapping")
        for key in data:
            if not isinstance(key, str):
                raise InvalidArgument(f"{join(path, str(key))}: a field name must be a string")
        self.data: dict[str, Any] = data
        self.path = path

    def at(self, key: str) -> str:
        """The path of field ``key``."""
        return join(self.path, key)

    def fail(self, key: str, problem: str) -> InvalidArgument:
        """The error for field ``key``."""
        return InvalidArgument(f"{self.at(key)}: {problem}")

    def allow(self, known: Iterable[str], refused: Iterable[str] = ()) -> None:
        """Refuse fields outside ``known``: those in ``refused`` as unsupported by Berth, the rest as
        unknown (a misspelt field would otherwise be dropped without a word)."""
        refused = set(refused)
        allowed = set(known)
        for key, value in self.data.items():
            if key in refused and value is not None:
                raise self.fail(key, "not supported by Berth")
            if key not in allowed and key not in refused:
                raise self.fail(key, "unknown field")

    def has(self, key: str) -> bool:
        """Whether field ``key`` is present (and not null)."""
        return self.data.get(key) is not None

    def text(self, key: str, default: str = "", required: bool = False) -> str:
        """A string field (``required``: absent or empty is an error)."""
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.fail(key, "required")
            return default
        if not isinstance(value, str):
            raise self.fail(key, "expected a string")
        if required and not value:
            raise self.fail(key, "must not be empty")
        return value

    def integer(self, key: str, default: int | None = None, minimum: int | None = None) -> int | None:
        """An integer field (YAML's ``true`` is no integer, though Python's bool is one)."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(key, "expected an integer")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be at least {minimum}")
        return value

    def boolean(self, key: str, default: bool | None = None) -> bool | None:
        """A boolean field."""
        value = self.data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, "expected a boolean")
        return value

    def scalar_text(self, key: str) -> str:
        """A string or number field as text (a resource quantity such as ``500m`` or ``1``)."""
        value = self.data.get(key)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(key, "expected a string or a number")
        return str(value)

    def mapping(self, key: str) -> Fields:
        """A nested mapping (empty when absent)."""
        return Fields(self.data.get(key), self.at(key))

    def items(self, key: str) -> list[Fields]:
        """A list of mappings, each with its index in its path."""
        return [Fields(item, f"{self.at(key)}[{i}]") for i, item in enumerate(self._list(key))]

    def strings(self, key: str) -> list[str]:
        """A list of strings."""
        values = self._list(key)
        for i, value in enumerate(values):
            if not isinstance(value, str):
                raise InvalidArgument(f"{self.at(key)}[{i}]: expected a string")
        return values

    def string_map(self, key: str) -> dict[str, str]:
        """A mapping of strings to strings (labels, annotations, ConfigMap data)."""
        values = self.mapping(key).data
        for name, value in values.items():
            if not isinstance(value, str):
                raise InvalidArgument(f"{self.at(key)}.{name}: expected a string")
        return dict(values)

    def _list(self, key: str) -> list[Any]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value
