"""Short-name resolution: what ``berth pull alpine`` fetches (containers-registries.conf(5)
"Short-Name Aliasing").

A name with a registry (``quay.io/x``, ``localhost/x``, ``host:5000/x``) means itself. A short name
means, in order of precedence:

1. its alias (``[aliases]``; the alias cache first), with the user's tag or digest;
2. else one candidate per ``unqualified-search-registries`` entry, subject to ``short-name-mode``:
   ``disabled`` tries them all in order; with one candidate there is nothing to choose; with several,
   on a terminal (stdin and stdout) the user picks one and the choice is recorded in the alias cache,
   as podman records it; without a terminal ``permissive`` tries them all and ``enforcing`` refuses;
3. with no search registries an error names the file that should define them, except on a host
   with no registries configuration at all, where Berth keeps Docker's rule (``docker.io``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from berth.distribution.registries_conf import RegistriesConf
from berth.errors import BerthError, InvalidArgument
from berth.spec.reference import Reference, is_short_name

T = TypeVar("T")


@dataclass(frozen=True)
class Resolution:
    """The fully qualified references a name may mean, in the order to try them.

    ``description`` says how they were found (empty when the name was fully qualified);
    ``record_as`` is the short name to record as an alias of the one that works (after a prompt).
    """

    candidates: tuple[Reference, ...]
    description: str = ""
    record_as: str | None = None


def resolve(
    text: str,
    conf: RegistriesConf,
    *,
    interactive: bool | None = None,
    choose: Callable[[Sequence[Reference]], Reference] | None = None,
) -> Resolution:
    """The references ``text`` may mean for a pull (see the module docstring).

    ``interactive`` defaults to whether stdin and stdout are terminals; ``choose`` asks the user.
    """
    ref = Reference.parse(text)
    if not is_short_name(text):
        return Resolution((ref,))
    short = _short_repository(text)
    target = _alias_target(text, conf)
    if target is not None:
        return Resolution((target,), f'Resolved "{short}" as an alias ({conf.aliases[short].origin})')
    if not conf.files:
        return Resolution((ref,))  # no containers configuration on this host: Docker's rule
    if not conf.search:
        raise InvalidArgument(
            f"short name {text!r} did not resolve to an alias and no unqualified-search registries are "
            f"defined in {conf.search_origin or ', '.join(conf.files)}"
        )
    candidates = tuple(Reference.parse(f"{registry}/{text}") for registry in conf.search)
    found = Resolution(
        candidates, f'Resolving "{short}" using unqualified-search registries ({conf.search_origin})'
    )
    if conf.mode == "disabled" or len(candidates) == 1:
        return found
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
    if interactive:
        return Resolution(((choose or ask)(candidates),), record_as=short)
    if conf.mode == "permissive":
        return found
    raise InvalidArgument(
        f"short name {text!r} is ambiguous ({', '.join(map(str, candidates))}) and short-name-mode is "
        f"enforcing ({conf.short_name_mode_origin}): without a terminal to ask on, use a fully "
        "qualified name or add an [aliases] entry"
    )


def local_names(text: str, load: Callable[[], RegistriesConf]) -> list[str]:
    """The names a reference may have in the local store, in lookup order, as podman looks them up
    for ``run`` and ``create``: a fully qualified name itself; for a short name its alias, then
    ``localhost/NAME``, then NAME under each search registry (``docker.io`` with no configuration).

    ``load`` reads the configuration, only for a short name (``run``'s path skips it otherwise).
    """
    ref = Reference.parse(text)
    if not is_short_name(text):
        return [str(ref)]
    conf = load()
    target = _alias_target(text, conf)
    names = [str(target)] if target is not None else []
    registries = ["localhost", *(conf.search or ())] if conf.files else ["localhost", "docker.io"]
    return names + [str(Reference.parse(f"{registry}/{text}")) for registry in registries]


def pull_first(
    resolution: Resolution, attempt: Callable[[Reference], T], alias_cache: Path
) -> tuple[Reference, T]:
    """Run ``attempt`` on each candidate until one succeeds; return it and what ``attempt`` gave.

    The user's choice at a prompt is recorded in ``alias_cache`` once it pulled. If every candidate
    fails, the one error, or all of them on one line.
    """
    errors: list[tuple[Reference, BerthError]] = []
    for ref in resolution.candidates:
        try:
            result = attempt(ref)
        except BerthError as err:
            errors.append((ref, err))
            continue
        if resolution.record_as is not None:
            record_alias(alias_cache, resolution.record_as, ref.name)
        return ref, result
    if len(errors) == 1:
        raise errors[0][1]
    raise BerthError(f"{len(errors)} candidates failed: " + "; ".join(f"{r}: {e}" for r, e in errors))


def ask(candidates: Sequence[Reference]) -> Reference:
    """Ask on the terminal which candidate to use (a numbered list; the answer is its number)."""
    print("Please select an image:", file=sys.stderr)
    for number, ref in enumerate(candidates, 1):
        print(f"  {number}) {ref}", file=sys.stderr)
    print(f"Image [1-{len(candidates)}]: ", end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline().strip()
    if not answer.isdigit() or not 1 <= int(answer) <= len(candidates):
        raise InvalidArgument(f"no image selected (want a number from 1 to {len(candidates)})")
    return candidates[int(answer) - 1]


def record_alias(cache: Path, name: str, value: str) -> None:
    """Add ``name = value`` to podman's alias cache, under the POSIX record lock podman takes on
    ``CACHE.lock`` (containers/storage's lockfile), written atomically with mode 0600."""
    import fcntl
    import json
    import tomllib

    from berth.fsutil import atomic_write

    cache.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(f"{cache}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX)
        try:
            aliases = dict(tomllib.loads(cache.read_text()).get("aliases", {}))
        except FileNotFoundError:
            aliases = {}
        except (OSError, ValueError) as err:
            raise InvalidArgument(f"cannot read short-name alias cache {cache}: {err}") from None
        aliases[name] = value
        # TOML basic strings take JSON's escapes, and names are plain ASCII anyway.
        lines = [f"  {json.dumps(k)} = {json.dumps(v)}\n" for k, v in sorted(aliases.items())]
        atomic_write(cache, ("[aliases]\n" + "".join(lines)).encode(), 0o600)
    finally:
        os.close(fd)


def _alias_target(text: str, conf: RegistriesConf) -> Reference | None:
    """The short name ``text``'s alias with ``text``'s tag or digest (``latest`` without either)."""
    short = _short_repository(text)
    alias = conf.aliases.get(short)
    if alias is None or alias.value is None:
        return None
    return Reference.parse(alias.value + text[len(short) :])


def _short_repository(text: str) -> str:
    """The short name as aliases are keyed: without tag or digest (``alpine:3`` is ``alpine``)."""
    name = text.partition("@")[0]
    colon = name.rfind(":")
    return name[:colon] if colon > name.rfind("/") else name


def pull_name(
    text: str,
    attempt: Callable[[Reference, RegistriesConf], T],
    *,
    berth_file: str | os.PathLike[str] | None = None,
    announce: Callable[[str], None] | None = None,
) -> tuple[Reference, T]:
    """Pull what ``text`` names, as ``berth pull``, ``run`` and ``create`` do: read this host's
    registries configuration, resolve the name, and run ``attempt(candidate, conf)`` on each candidate
    until one succeeds. ``announce`` is told how a short name was resolved."""
    from berth.distribution.registries_files import Locations, load

    where = Locations.for_host(berth_file)
    conf = load(where=where)
    resolution = resolve(text, conf)
    if announce is not None and resolution.description:
        announce(resolution.description)
    return pull_first(resolution, lambda ref: attempt(ref, conf), where.alias_cache)
