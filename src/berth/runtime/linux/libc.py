"""libc's functions, called through ``_ctypes``, the C core of ``ctypes``.

Importing the ``ctypes`` package costs ~2 ms on every runtime start (it builds some forty classes,
checks their sizes through ``struct`` and imports ``ctypes._endian``); the runtime needs three C
types and a function-pointer class, so it defines those on ``_ctypes`` itself, as ``ctypes`` does.
Calls behave as through ``ctypes.CDLL(None, use_errno=True)``: C ``int`` results, Python ints
passed as C ``int``, bytes as ``char *``, None as NULL, and errno saved for ``get_errno``.
"""

from __future__ import annotations

import _ctypes

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

get_errno = _ctypes.get_errno
addressof = _ctypes.addressof


class c_int(_ctypes._SimpleCData):  # type: ignore[type-arg]
    """C ``int``."""

    _type_ = "i"


class c_ulong(_ctypes._SimpleCData):  # type: ignore[type-arg]
    """C ``unsigned long`` (64 bits here): what mount(2) flags and prctl(2) arguments are."""

    _type_ = "L"


class c_char(_ctypes._SimpleCData):  # type: ignore[type-arg]
    """C ``char``, the element of ``buffer``."""

    _type_ = "c"


class _Function(_ctypes.CFuncPtr):
    _flags_ = _ctypes.FUNCFLAG_CDECL | _ctypes.FUNCFLAG_USE_ERRNO
    _restype_ = c_int


class _Process:
    # CFuncPtr looks functions up in ``<library>._handle``; dlopen(NULL) is the running program,
    # which has libc loaded (no ctypes.util.find_library, which would spawn ldconfig).
    _handle = _ctypes.dlopen(None, _ctypes.RTLD_LOCAL)  # type: ignore[arg-type]  # NULL is allowed


_PROCESS = _Process()
_functions: dict[str, Any] = {}


def function(name: str) -> Any:
    """libc's function ``name``, looked up once."""
    fn = _functions.get(name)
    if fn is None:
        fn = _functions[name] = _Function((name, _PROCESS))  # type: ignore[arg-type]  # any ``_handle``
    return fn


def buffer(data: bytes, size: int = 0) -> Any:
    """A writable C ``char`` array of ``size`` bytes (default ``len(data)``) starting with ``data``."""
    buf: Any = (c_char * (size or len(data)))()
    buf.value = data  # copies all of ``data``, NULs included
    return buf
