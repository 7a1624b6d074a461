"""A ``-v`` mount's options as podman processes them: the options given, then the propagation
(``rprivate``) unless one was given, then ``noexec``/``nosuid``/``nodev`` by default unless
``exec``/``suid``/``dev`` (or the same) was given, then ``rbind`` unless ``bind`` or ``rbind`` was.

The defaults are a named volume's ``nosuid`` and ``nodev`` (a volume is the container's data, not
a place for setuid programs or device files), and for a bind mount the flags of the filesystem its
source is on, so the bind never lifts a restriction the host put there.
"""

from __future__ import annotations

import os

from berth.engine.options import PROPAGATIONS, VolumeSpec

#: The defaults that can be asked away, each as (the flag, the option that asks it away).
_DEFAULTABLE = (("noexec", "exec"), ("nosuid", "suid"), ("nodev", "dev"))
#: The volume defaults: no setuid, no devices; programs run (podman's named volumes).
_VOLUME_DEFAULTS = frozenset({"nosuid", "nodev"})
_STATFS_FLAGS = {"noexec": os.ST_NOEXEC, "nosuid": os.ST_NOSUID, "nodev": os.ST_NODEV}
#: Options podman keeps for its SELinux relabelling, which Berth does not do.
_RELABEL = frozenset({"z", "Z"})


def processed_options(spec: VolumeSpec) -> list[str]:
    """``spec``'s options in podman's order with the defaults added (z/Z dropped: no relabelling).
    ``rro`` brings ``ro`` with it, as the mount itself must be read-only too."""
    given = [PROPAGATIONS.get(o, o) for o in spec.options if o not in _RELABEL]
    options = []
    for option in given:
        if option == "rro" and "ro" not in given:
            options.append("ro")
        options.append(option)
    if not any(o in PROPAGATIONS.values() for o in options):
        options.append("rprivate")
    defaults = _source_flags(spec.source) if spec.source else _VOLUME_DEFAULTS
    options += [
        flag for flag, lifted in _DEFAULTABLE if flag in defaults and not {flag, lifted} & set(options)
    ]
    if "bind" not in options and "rbind" not in options:
        options.append("rbind")
    return options


def _source_flags(path: str) -> set[str]:
    """The ``noexec``/``nosuid``/``nodev`` flags of the filesystem ``path`` is on (statfs)."""
    flags = os.statvfs(path).f_flag
    return {name for name, bit in _STATFS_FLAGS.items() if flags & bit}
