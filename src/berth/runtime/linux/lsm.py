"""Linux security modules: the AppArmor profile and SELinux labels a config asks for.

config.md#linux-process ``apparmorProfile`` and ``selinuxLabel`` confine the container process from
its execve(2) on: the init writes them to its ``/proc/self/attr/.../exec`` while still privileged.
config-linux.md#mount-label labels the container's mounts through the ``context=`` mount option.
On a host where the module is not enabled nothing can be applied, and silently running the process
unconfined would be worse than failing: ``check`` refuses such a config with one line (runc fails
there too, with an EINVAL from the kernel).
"""

from __future__ import annotations

import os

from berth.errors import Unsupported
from berth.spec.runtime_config import Process, RuntimeConfig

_APPARMOR_ENABLED = "/sys/module/apparmor/parameters/enabled"
_SELINUX_FS = "/sys/fs/selinux"
#: Mount types whose labels come from the kernel, not from a ``context=`` option (runc skips them too).
_UNLABELLED_TYPES = frozenset({"proc", "sysfs", "cgroup", "cgroup2", "bind"})


def apparmor_enabled() -> bool:
    """Whether the AppArmor module is enabled on this host."""
    try:
        with open(_APPARMOR_ENABLED, "rb") as fh:
            return fh.read().strip() == b"Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    """Whether SELinux is enabled on this host (its filesystem is mounted)."""
    return os.path.exists(os.path.join(_SELINUX_FS, "enforce"))


def check(config: RuntimeConfig) -> None:
    """Refuse labels this host cannot apply, before anything is created."""
    proc = config.process
    if proc is not None and proc.apparmor_profile and not apparmor_enabled():
        raise Unsupported("process.apparmorProfile: AppArmor is not enabled on this host")
    selinux = (proc is not None and proc.selinux_label) or config.linux.mount_label
    if selinux and not selinux_enabled():
        field = "process.selinuxLabel" if proc is not None and proc.selinux_label else "linux.mountLabel"
        raise Unsupported(f"{field}: SELinux is not enabled on this host")


def set_exec_labels(process: Process) -> None:
    """Make the next execve(2) enter the process's AppArmor profile and SELinux label."""
    if process.apparmor_profile:
        # Linux 5.8+ has a directory per module; older kernels only the shared attr/exec.
        _write_attr(
            ["/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"], f"exec {process.apparmor_profile}"
        )
    if process.selinux_label:
        _write_attr(["/proc/self/attr/exec"], process.selinux_label)


def _write_attr(paths: list[str], value: str) -> None:
    for path in paths:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
        return
    raise Unsupported(f"cannot set {value!r}: {paths[-1]} does not exist")


def mount_data(data: str, mount_type: str, mount_label: str) -> str:
    """``data`` with ``context="<mountLabel>"`` added for mount types that take a label."""
    if not mount_label or mount_type in _UNLABELLED_TYPES:
        return data
    context = f'context="{mount_label}"'
    return f"{data},{context}" if data else context
