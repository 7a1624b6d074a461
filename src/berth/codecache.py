"""One file holding the compiled code of a program's modules, served by a meta path finder.

Every import through CPython's path finder costs about 60 µs before the module's own code runs:
the finder's directory check, a stat of the source, the open/read/close of its ``.pyc``, and
importlib's Python-level validation of each. berth-runtime's ``run`` imports some 35 of Berth's
modules, about 2 ms of every container start; ``berth run`` imports about 60. ``CodeCache`` keeps
their marshalled code objects in one file instead, read once per start; each module is still
checked against its source (modification time and size, as a ``.pyc`` is) with one stat, and a
module whose source changed or that is not cached yet is imported the usual way. ``save`` rewrites
the file when the process imported anything the usual way, so the cache follows code changes and
collects every verb's modules over time.

Root executes what this file holds: it is written 0600 into a directory only root can write, and a
file not owned by the reading user, or writable by others, is ignored.
"""

from __future__ import annotations

import marshal
import os
import sys
from _frozen_importlib import ModuleSpec  # importlib.machinery's, without importing importlib

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Callable
    from importlib.abc import Loader
    from types import ModuleType
    from typing import NoReturn

    #: source path, is a package, source mtime (ns), source size, offset and length of the code
    Entry = tuple[str, bool, int, int, int, int]


if not TYPE_CHECKING:
    Loader = object  # importlib.abc costs an import; the protocol needs no base class


def default_path(cache_dir: str, package_dir: str) -> str:
    """The cache file in the program's ``cache_dir`` for the package at ``package_dir`` and this
    interpreter (its version in the name, so two interpreters of one minor version do not overwrite
    each other's file in turn). Each program has its own file: a start reads the whole index."""
    version = sys.version.split()[0]
    return os.path.join(
        cache_dir, f"code-{sys.implementation.name}-{version}{package_dir.replace('/', '-')}.marshal"
    )


class CodeCache(Loader):
    """A meta path finder and loader serving ``package``'s modules from the cache file at ``path``,
    and with ``stdlib`` the standard library's pure-Python modules too (those imported after
    ``install``: the interpreter's start-up modules are frozen or loaded already).

    The file is an 8-byte little-endian length, the marshalled ``(sys.version, {module name:
    Entry})`` of that length, then the marshalled code objects the entries point into. The file stays
    open (close-on-exec) and each module's code is read when it is imported, so a start reads only
    the code it runs.
    """

    def __init__(self, path: str, package: str, stdlib: bool = False) -> None:
        self.path = path
        self.package = package
        #: the standard library's directory, when its modules are cached too
        self.stdlib_dir = _stdlib_dir() if stdlib else ""
        self.fd, self.entries, self.code_start = _open(path)
        #: modules imported before the cache was installed: never served from it, so never saved
        self.preloaded = frozenset(sys.modules)
        self.changed = False

    def install(self) -> None:
        """Serve imports of cached modules from now on, before any other finder."""
        sys.meta_path.insert(0, self)

    def uninstall(self) -> None:
        """Stop serving imports and close the file (imports go the usual way from now on)."""
        if self in sys.meta_path:
            sys.meta_path.remove(self)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _ours(self, name: str, origin: str) -> bool:
        """Whether the module ``name``, loaded from the source file ``origin``, belongs in the cache."""
        if name == self.package or name.startswith(self.package + "."):
            return True
        # The standard library's own directory, not the site-packages beneath it.
        return bool(self.stdlib_dir) and origin.startswith(self.stdlib_dir) and "-packages/" not in origin

    def find_spec(self, name: str, path: object = None, target: object = None) -> ModuleSpec | None:
        """The module's spec if the cache holds it and its source is unchanged (importlib protocol)."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        origin, is_package, mtime_ns, size, _, _ = entry
        try:
            st = os.stat(origin)
        except OSError:
            st = None
        if st is None or st.st_mtime_ns != mtime_ns or st.st_size != size:
            del self.entries[name]
            self.changed = True
            return None
        spec = ModuleSpec(name, self, origin=origin, is_package=is_package)
        spec.has_location = True  # so importlib sets __file__
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(origin)]
        return spec

    def create_module(self, spec: ModuleSpec) -> None:
        """Let importlib create the module object (importlib protocol)."""
        return None

    def exec_module(self, module: ModuleType) -> None:
        """Run the cached code in the module's namespace (importlib protocol)."""
        exec(marshal.loads(self._code(self.entries[module.__name__])), module.__dict__)

    def _code(self, entry: Entry) -> bytes:
        _, _, _, _, offset, length = entry
        try:
            code = os.pread(self.fd, length, self.code_start + offset)
        except OSError as err:
            raise ImportError(f"{self.path}: {err.strerror}") from None
        if len(code) != length:
            raise ImportError(f"{self.path}: truncated")
        return code

    def save(self) -> None:
        """Rewrite the cache file if this process imported one of ``package``'s modules the usual way
        or found an entry stale; keep the entries it did not use. Failures are ignored: without the
        file the next start just imports the usual way."""
        loaded = []
        for name, module in list(sys.modules.items()):
            if name in self.preloaded or name in self.entries:
                continue
            spec = getattr(module, "__spec__", None)
            origin = getattr(spec, "origin", None)
            # Source files only: built-in, frozen and extension modules keep their own loaders.
            if isinstance(origin, str) and origin.endswith(".py") and self._ours(name, origin):
                loaded.append((name, origin, spec.submodule_search_locations is not None))
        if not loaded and not self.changed:
            return
        try:
            codes = {name: (*entry[:4], self._code(entry)) for name, entry in self.entries.items()}
        except ImportError:
            codes = {}
        for name, origin, is_package in loaded:
            compiled = _compile(origin, is_package)
            if compiled is not None:
                codes[name] = compiled
        _write(self.path, codes)


def run_cached(
    cache_dir: str, package_dir: str, module: str, function: str, stdlib: bool = False
) -> NoReturn:
    """Import ``module`` with Berth's modules (under ``package_dir``), and with ``stdlib`` the
    standard library's, served from the cache in ``cache_dir``, run its ``function``, and exit with
    the status it returns without the interpreter's finalization (module teardown and a last garbage
    collection: milliseconds a start). The function must have finished its work when it returns
    (threads joined, files closed): only buffered output is flushed."""
    cache = CodeCache(default_path(cache_dir, package_dir), "berth", stdlib)
    cache.install()
    entry: Callable[[], int] = getattr(__import__(module, fromlist=[function]), function)
    status = entry()
    cache.save()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:
        status = status or 1
    os._exit(status)


def open_descriptors() -> list[int]:
    """The open files of the installed caches: a forked process that closes the descriptors it did
    not open keeps these, so that what it imports later is still served from the cache."""
    return [finder.fd for finder in sys.meta_path if isinstance(finder, CodeCache) and finder.fd >= 0]


def _open(path: str) -> tuple[int, dict[str, Entry], int]:
    """The open cache file, its entries, and where its code starts; (-1, {}, 0) if the file is
    missing, foreign, or not this interpreter's."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return -1, {}, 0
    try:
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and not st.st_mode & 0o022:
            head = os.read(fd, 16384)
            end = 8 + int.from_bytes(head[:8], "little")
            if len(head) < end <= st.st_size:
                head += os.pread(fd, end - len(head), len(head))
            version, entries = marshal.loads(head[8:end])
            if version == sys.version and isinstance(entries, dict) and end <= st.st_size:
                return fd, entries, end
    except (OSError, EOFError, ValueError, TypeError):
        pass
    os.close(fd)
    return -1, {}, 0


def _compile(origin: str, is_package: bool) -> tuple[str, bool, int, int, bytes] | None:
    """The source at ``origin`` compiled as importlib compiles it, with its stat and marshalled code."""
    try:
        with open(origin, "rb") as fh:
            st = os.fstat(fh.fileno())  # before reading: a later change then shows as stale
            source = fh.read()
        code = compile(source, origin, "exec", dont_inherit=True)
    except (OSError, SyntaxError, ValueError):
        return None
    return origin, is_package, st.st_mtime_ns, st.st_size, marshal.dumps(code)


def _write(path: str, codes: dict[str, tuple[str, bool, int, int, bytes]]) -> None:
    from berth.fsutil import AtomicFile  # loaded by now: the commands use it; not needed at start

    entries: dict[str, Entry] = {}
    offset = 0
    for name, (origin, is_package, mtime_ns, size, code) in codes.items():
        entries[name] = (origin, is_package, mtime_ns, size, offset, len(code))
        offset += len(code)
    header = marshal.dumps((sys.version, entries))
    try:
        os.makedirs(os.path.dirname(path), 0o755, exist_ok=True)
        with AtomicFile(path, 0o600) as fh:
            fh.write(len(header).to_bytes(8, "little") + header)
            for *_, code in codes.values():
                fh.write(code)
    except OSError:
        pass  # without the file the next start imports the usual way


def _stdlib_dir() -> str:
    """The standard library's directory with a trailing ``/`` ("" if unknown): where ``os`` (frozen
    since Python 3.11, but still naming its source) comes from."""
    origin = getattr(os, "__file__", None)
    return os.path.dirname(origin) + "/" if isinstance(origin, str) else ""
