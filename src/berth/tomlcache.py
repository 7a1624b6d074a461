"""TOML files parsed once and kept, for the commands that read the same configuration each time.

Importing ``tomllib`` (with ``typing`` and ``string`` beneath it) and parsing a small file costs a
command about 5 ms; ``berth run`` reads ``berth.toml`` on every start. ``load`` keeps each file's
parsed document in a cache file beside the file's exact bytes, and a later call that reads the same
bytes takes the document from there (one ``marshal.loads``). A file whose bytes changed, however
quickly and whatever its size and time stamps, is parsed again; the cache can only hold documents
``marshal`` can (TOML's date-times it cannot: such a file is parsed every time).

The cache directory is made 0700 and a cache file is used only when the reading user owns it and
nobody else may write it, as ``berth.codecache`` does; without a writable directory (an unprivileged
user) every file is parsed.
"""

from __future__ import annotations

import contextlib
import marshal
import os

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

#: Where ``berth`` keeps its parsed configuration files (beside its code cache).
DEFAULT_DIR = "/var/cache/berth/toml"


def load(path: str | os.PathLike[str], cache_dir: str = DEFAULT_DIR) -> dict[str, Any]:
    """The TOML document in the file at ``path``. Raises ``OSError`` as ``open`` does (a missing
    file: ``FileNotFoundError``), ``tomllib.TOMLDecodeError`` for a file that is not TOML, and
    ``UnicodeDecodeError`` for one that is not UTF-8."""
    with open(path, "rb") as fh:
        raw = fh.read()
    cache = _cache_file(cache_dir, os.path.abspath(path))
    kept = _read(cache) if cache else None
    if kept is not None and kept[0] == raw:
        return kept[1]
    import tomllib

    document = tomllib.loads(raw.decode())
    if cache:
        _prune(cache_dir)  # on a miss only: a hit costs no directory listing
        _write(cache_dir, cache, raw, document)
    return document


def _cache_file(cache_dir: str, path: str) -> str:
    """The cache file of the file at absolute ``path``: its path percent-encoded (``%`` as ``%25``,
    ``/`` as ``%2F``: one name per path, and the path read back by ``_source``); "" when that name
    is too long for a file name."""
    name = path.replace("%", "%25").replace("/", "%2F")
    return os.path.join(cache_dir, name) if len(name.encode()) <= 255 else ""


def _source(name: str) -> str:
    """The path of the file a cache file's ``name`` keeps."""
    return name.replace("%2F", "/").replace("%25", "%")


def _prune(cache_dir: str) -> None:
    """Remove the entries of files that no longer exist (configurations of removed directories,
    as tests make by the hundred), so the cache does not grow without bound."""
    try:
        names = os.listdir(cache_dir)
    except OSError:
        return
    for name in names:
        if name.startswith("%2F") and not name.endswith(".tmp") and not os.path.exists(_source(name)):
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(cache_dir, name))


def _read(cache: str) -> tuple[bytes, dict[str, Any]] | None:
    """The bytes and document kept in ``cache``; None if it is missing, unsafe or not one."""
    try:
        fd = os.open(cache, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return None
        kept = marshal.loads(os.read(fd, st.st_size + 1))
    except (OSError, EOFError, ValueError, TypeError):
        return None
    finally:
        os.close(fd)
    if isinstance(kept, tuple) and len(kept) == 2:
        raw, document = kept
        if isinstance(raw, bytes) and isinstance(document, dict):
            return raw, document
    return None


def _write(cache_dir: str, cache: str, raw: bytes, document: dict[str, Any]) -> None:
    """Keep ``document`` parsed from ``raw`` in ``cache`` (written aside, then renamed into place:
    a reader sees the old entry or the new one). Any failure leaves the cache as it was."""
    try:
        data = marshal.dumps((raw, document))
    except ValueError:  # a date-time: marshal keeps only plain data
        return
    tmp = f"{cache}.{os.getpid()}.tmp"
    try:
        os.makedirs(cache_dir, 0o700, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
        with open(fd, "wb") as fh:
            fh.write(data)
        os.rename(tmp, cache)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
