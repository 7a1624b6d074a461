"""JSON for the runtime's start path through CPython's C accelerator (``_json``) alone.

``import json`` costs ~8 ms on every container start here, because ``json.decoder`` and
``json.scanner`` compile regular expressions at import time (``re`` pulls in ``enum`` too). The C
scanner and encoder that ``json`` itself uses for the common case need none of that; these two
functions drive them with ``json``'s defaults (``loads``) and ``json.dumps``' default output.
"""

from __future__ import annotations

import _json

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

_WHITESPACE = " \t\n\r"  # RFC 8259 section 2: insignificant whitespace


class _DecodeOptions:
    """The attributes ``_json.make_scanner`` reads: ``json.JSONDecoder()``'s defaults."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    parse_float = float
    parse_int = int
    parse_constant = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}.__getitem__


_scan: _json.make_scanner | None = None


def loads(text: str | bytes) -> Any:
    """Decode one JSON document (bytes are UTF-8); ``ValueError`` if it is not exactly one value."""
    global _scan
    if _scan is None:
        _scan = _json.make_scanner(_DecodeOptions())  # type: ignore[arg-type]  # a duck-typed context
    s = text.decode("utf-8") if isinstance(text, bytes) else text
    start = len(s) - len(s.lstrip(_WHITESPACE))
    try:
        value, end = _scan(s, start)
    except StopIteration as err:
        raise ValueError(f"expecting a value at character {err.value}") from None
    if s[end:].strip(_WHITESPACE):
        raise ValueError(f"extra data at character {end}")
    return value


def _unserializable(value: object) -> object:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


_encode = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ": ", ", ", False, False, True
)


def dumps(value: object) -> str:
    """Encode ``value`` exactly as ``json.dumps(value)`` does (ASCII, ", " and ": " separators)."""
    return "".join(_encode(value, 0))


_encode_canonical = _json.make_encoder(
    None, _unserializable, _json.encode_basestring_ascii, None, ":", ",", True, False, True
)


def dumps_canonical(value: object) -> str:
    """Encode ``value`` as ``json.dumps(value, sort_keys=True, separators=(",", ":"))`` does: one
    text for equal values, whatever the order of their keys (a cache key's input)."""
    return "".join(_encode_canonical(value, 0))


def dumps_indented(value: object, level: int = 0) -> str:
    """Encode ``value`` exactly as ``json.dumps(value, indent=2)`` does (runc's ``state`` prints its
    document indented); object keys must be strings."""
    if isinstance(value, dict) and value:
        brackets, parts = (
            "{}",
            [f"{dumps(_key(k))}: {dumps_indented(v, level + 1)}" for k, v in value.items()],
        )
    elif isinstance(value, (list, tuple)) and value:
        brackets, parts = "[]", [dumps_indented(item, level + 1) for item in value]
    else:
        return dumps(value)
    inner = "\n" + "  " * (level + 1)
    return brackets[0] + inner + ("," + inner).join(parts) + "\n" + "  " * level + brackets[1]


def _key(key: object) -> str:
    if not isinstance(key, str):
        raise TypeError(f"keys must be str, not {type(key).__name__}")
    return key
