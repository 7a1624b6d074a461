"""Strict JSON reading shared by the spec parsers.

Every accessor takes the dotted path of the value it reads (``manifest.layers[2].digest``) so an error
names the field. Only ``InvalidArgument`` ever escapes: junk input never raises anything else.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from berth.errors import InvalidArgument

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any, TypeVar

    _T = TypeVar("_T")

JSONObject = dict[str, "Any"]


def _no_duplicates(pairs: list[tuple[str, Any]]) -> JSONObject:
    # A JSON object with a repeated key means different things to different parsers (Go keeps the
    # last, some keep the first); refusing it keeps what Berth verifies equal to what peers read.
    obj: JSONObject = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidArgument(f"duplicate key {key!r}")
        obj[key] = value
    return obj


def _no_constant(name: str) -> Any:
    raise InvalidArgument(f"{name} is not JSON")


def load_object(data: bytes | str, what: str) -> JSONObject:
    """Parse ``data`` as one JSON object; ``InvalidArgument`` naming ``what`` if it is anything else."""
    try:
        value = json.loads(data, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except InvalidArgument as err:
        raise InvalidArgument(f"{what}: {err}") from None
    except (ValueError, TypeError, RecursionError) as err:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidArgument(f"{what}: not valid JSON: {err}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what}: want a JSON object, got {type(value).__name__}")
    return value


def dump(obj: Any) -> bytes:
    """Encode ``obj`` the way Berth writes every JSON document: UTF-8, key order kept, no spaces."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()


def want_object(value: Any, path: str) -> JSONObject:
    """``value`` if it is a JSON object."""
    if not isinstance(value, dict):
        raise InvalidArgument(f"{path}: want an object, got {_kind(value)}")
    return value


def get_str(obj: Mapping[str, Any], key: str, path: str, required: bool = False) -> str | None:
    """The string at ``obj[key]``; ``None`` if absent (or null) and not required."""
    return _typed(obj, key, path, required, str, "a string")


def req_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    """The string at ``obj[key]``, which must be present."""
    value = get_str(obj, key, path, required=True)
    assert value is not None
    return value


def get_int(obj: Mapping[str, Any], key: str, path: str, required: bool = False) -> int | None:
    """The integer at ``obj[key]`` (booleans and floats are not integers)."""
    return _typed(obj, key, path, required, int, "an integer")


def get_bool(obj: Mapping[str, Any], key: str, path: str) -> bool | None:
    """The boolean at ``obj[key]``, or ``None`` if absent."""
    return _typed(obj, key, path, False, bool, "a boolean")


def get_list(obj: Mapping[str, Any], key: str, path: str, required: bool = False) -> list[Any] | None:
    """The array at ``obj[key]``; ``None`` if absent (or null) and not required."""
    return _typed(obj, key, path, required, list, "an array")


def get_str_list(obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    """The array of strings at ``obj[key]``, or ``None`` if absent or null."""
    items = get_list(obj, key, path)
    if items is None:
        return None
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise InvalidArgument(f"{path}.{key}[{i}]: want a string, got {_kind(item)}")
    return tuple(items)


def get_str_map(obj: Mapping[str, Any], key: str, path: str) -> dict[str, str] | None:
    """The object of string values at ``obj[key]`` (annotations, labels), or ``None``."""
    mapping = _typed(obj, key, path, False, dict, "an object")
    if mapping is None:
        return None
    for k, v in mapping.items():
        if not isinstance(v, str):
            raise InvalidArgument(f"{path}.{key}[{k!r}]: want a string, got {_kind(v)}")
    return dict(mapping)


def get_key_set(obj: Mapping[str, Any], key: str, path: str) -> tuple[str, ...] | None:
    """The keys of an object whose values must be empty objects (``ExposedPorts``, ``Volumes``)."""
    mapping = _typed(obj, key, path, False, dict, "an object")
    if mapping is None:
        return None
    for k, v in mapping.items():
        # image-spec config.md: values are empty objects; Docker writes null for some of them.
        if v is not None and v != {}:
            raise InvalidArgument(f"{path}.{key}[{k!r}]: want an empty object, got {_kind(v)}")
    return tuple(mapping)


def _typed(
    obj: Mapping[str, Any], key: str, path: str, required: bool, kind: type[_T], what: str
) -> _T | None:
    # What every typed accessor does: absent or null is None (or an error if required), a value
    # of another type an error naming the field; a boolean is not an integer, as in JSON.
    value = obj.get(key)
    if value is None:
        if required:
            raise InvalidArgument(f"{path}.{key}: required field missing")
        return None
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidArgument(f"{path}.{key}: want {what}, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)
