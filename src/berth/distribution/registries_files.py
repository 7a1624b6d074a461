"""Which ``registries.conf`` files Berth reads, in podman's order, with Berth's own file last.

1. The main file: ``$CONTAINERS_REGISTRIES_CONF`` if set (it must exist), else
   ``$HOME/.config/containers/registries.conf`` if it exists, else ``/etc/containers/registries.conf``
   (missing is fine).
2. Drop-ins, v2 format only: the ``*.conf`` files of ``/etc/containers/registries.conf.d`` and then
   of ``$HOME/.config/containers/registries.conf.d``, each directory in lexical order; only the
   latter when the main file is the one under ``$HOME`` (containers-registries.conf.d(5)).
3. The short-name aliases podman records after asking the user (``/var/cache/containers/
   short-name-aliases.conf`` for root, ``$XDG_CACHE_HOME/containers/...`` otherwise); they override
   the files' aliases.
4. Berth's own override: ``--registries-conf FILE``, else ``$BERTH_REGISTRIES_CONF`` (each must
   exist), else ``/etc/berth/registries.conf`` (missing is fine); v2 format, merged like a drop-in.

Each file overrides the ones before it key by key (``RegistriesConf.merged``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from berth.distribution.registries_conf import RegistriesConf, parse
from berth.errors import InvalidArgument


@dataclass(frozen=True)
class Locations:
    """Where each kind of file is looked for; ``*_required`` files must exist."""

    main: Path
    main_required: bool
    dropin_dirs: tuple[Path, ...]
    alias_cache: Path
    berth: Path
    berth_required: bool

    @classmethod
    def for_host(
        cls,
        berth_file: str | os.PathLike[str] | None = None,
        environ: Mapping[str, str] = os.environ,
        euid: int | None = None,
    ) -> Locations:
        """The locations podman would use for this user, and Berth's override file."""
        home = Path(environ.get("HOME") or os.path.expanduser("~"))
        user_main = home / ".config/containers/registries.conf"
        user_dir = home / ".config/containers/registries.conf.d"
        system_dir = Path("/etc/containers/registries.conf.d")
        explicit = environ.get("CONTAINERS_REGISTRIES_CONF")
        dirs: tuple[Path, ...]
        if explicit:
            main, required, dirs = Path(explicit), True, (system_dir, user_dir)
        elif user_main.exists():
            main, required, dirs = user_main, False, (user_dir,)
        else:
            main, required, dirs = Path("/etc/containers/registries.conf"), False, (system_dir, user_dir)
        if (os.geteuid() if euid is None else euid) == 0:
            cache = Path("/var/cache/containers")
        else:
            cache = Path(environ.get("XDG_CACHE_HOME") or home / ".cache") / "containers"
        own = berth_file or environ.get("BERTH_REGISTRIES_CONF")
        return cls(
            main=main,
            main_required=required,
            dropin_dirs=dirs,
            alias_cache=cache / "short-name-aliases.conf",
            berth=Path(own) if own else Path("/etc/berth/registries.conf"),
            berth_required=bool(own),
        )


def load(berth_file: str | os.PathLike[str] | None = None, where: Locations | None = None) -> RegistriesConf:
    """Read and merge every file (see the module docstring); ``InvalidArgument`` names the file and
    its problem in one line."""
    where = where or Locations.for_host(berth_file)
    conf = _read(where.main, where.main_required, v2_only=False) or RegistriesConf()
    for path in _dropins(where.dropin_dirs):
        conf = conf.merged(_read(path, True, v2_only=True) or RegistriesConf())
    recorded = _read_alias_cache(where.alias_cache)
    if recorded is not None:
        conf = conf.merged(recorded)
    own = _read(where.berth, where.berth_required, v2_only=True)
    return conf.merged(own) if own is not None else conf


def _read(path: Path, required: bool, *, v2_only: bool) -> RegistriesConf | None:
    text = _text(path, required)
    return None if text is None else parse(text, str(path), v2_only=v2_only)


def _read_alias_cache(path: Path) -> RegistriesConf | None:
    """Only the ``[aliases]`` of the cache count, as for containers/image."""
    recorded = _read(path, False, v2_only=True)
    return None if recorded is None else RegistriesConf(aliases=recorded.aliases, files=recorded.files)


def _text(path: Path, required: bool) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        if required:
            raise InvalidArgument(f"registries config {path} does not exist") from None
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise InvalidArgument(f"cannot read registries config {path}: {err}") from None


def _dropins(dirs: tuple[Path, ...]) -> list[Path]:
    """The ``*.conf`` files (not directories) of each directory, each directory's in lexical order."""
    found = []
    for directory in dirs:
        try:
            names = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError as err:
            raise InvalidArgument(f"cannot read {directory}: {err.strerror}") from None
        found += [directory / n for n in names if n.endswith(".conf") and not (directory / n).is_dir()]
    return found
