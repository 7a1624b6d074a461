"""Device nodes in the container's /dev (config-linux.md#devices, #default-devices)."""

from __future__ import annotations

import os
import stat

from berth.fsutil import resolve_in_root
from berth.runtime.linux import syscalls as s
from berth.spec.runtime_config import Device

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: config-linux.md#default-devices: always present, whatever the config lists.
DEFAULT_DEVICES = (
    Device("c", "/dev/null", 1, 3, 0o666, 0, 0),
    Device("c", "/dev/zero", 1, 5, 0o666, 0, 0),
    Device("c", "/dev/full", 1, 7, 0o666, 0, 0),
    Device("c", "/dev/random", 1, 8, 0o666, 0, 0),
    Device("c", "/dev/urandom", 1, 9, 0o666, 0, 0),
    Device("c", "/dev/tty", 5, 0, 0o666, 0, 0),
)

#: config-linux.md#default-devices and runc: the standard /dev symlinks.
DEFAULT_SYMLINKS = (
    ("/proc/self/fd", "/dev/fd"),
    ("/proc/self/fd/0", "/dev/stdin"),
    ("/proc/self/fd/1", "/dev/stdout"),
    ("/proc/self/fd/2", "/dev/stderr"),
    ("pts/ptmx", "/dev/ptmx"),
)

_KINDS = {"c": stat.S_IFCHR, "u": stat.S_IFCHR, "b": stat.S_IFBLK, "p": stat.S_IFIFO}


def create_devices(sc: s.Syscalls, rootfs: str, devices: tuple[Device, ...], bind: bool) -> None:
    """Create the default and configured devices under ``rootfs``.

    ``bind`` (in a user namespace, where mknod(2) of devices is refused) bind-mounts the host's node
    instead, as runc does.
    """
    configured = {d.path for d in devices}
    for dev in (*(d for d in DEFAULT_DEVICES if d.path not in configured), *devices):
        target = resolve_in_root(rootfs, dev.path)
        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        if bind and dev.type != "p":
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
            sc.mount(dev.path, target, "", s.MS_BIND)
            continue
        mode = 0o666 if dev.file_mode is None else dev.file_mode
        os.mknod(target, mode | _KINDS[dev.type], os.makedev(dev.major, dev.minor))
        os.chmod(target, mode)  # mknod applies the umask
        os.chown(target, dev.uid or 0, dev.gid or 0)


def create_symlinks(rootfs: str) -> None:
    """The /dev symlinks every Linux container has (skipping any the mounts already provide)."""
    for source, link in DEFAULT_SYMLINKS:
        target = resolve_in_root(rootfs, link)
        if not os.path.lexists(target):
            os.symlink(source, target)
    if os.path.exists("/proc/kcore"):
        core = resolve_in_root(rootfs, "/dev/core")
        if not os.path.lexists(core):
            os.symlink("/proc/kcore", core)


def _allow(kind: str, major: int | None, minor: int | None, access: str = "rwm") -> dict[str, object]:
    return {"allow": True, "type": kind, "major": major, "minor": minor, "access": access}


#: Device-cgroup rules every container gets after its configured ones (as runc's specconv appends):
#: mknod of anything, and use of the default devices, ptys (136:*, /dev/ptmx 5:2) and /dev/net/tun.
DEFAULT_RULES = (
    _allow("c", None, None, "m"),
    _allow("b", None, None, "m"),
    *(_allow("c", d.major, d.minor) for d in DEFAULT_DEVICES),
    _allow("c", 136, None),
    _allow("c", 5, 2),
    _allow("c", 10, 200),
)


def with_device_rules(resources: Mapping[str, Any], devices: tuple[Device, ...]) -> dict[str, Any]:
    """``linux.resources`` plus allow rules for the default devices and each configured device."""
    rules = list(resources.get("devices") or [])
    rules.extend(DEFAULT_RULES)
    for d in devices:
        if d.type != "p":
            rules.append(_allow("c" if d.type == "u" else d.type, d.major, d.minor))
    return {**resources, "devices": rules}
