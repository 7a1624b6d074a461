"""Every raw Linux system call the runtime makes that Python's ``os`` module lacks, in one place.

``Syscalls`` is the seam: lifecycle and rootfs code call methods of an instance (``syscalls()``
returns the real one), so unit tests substitute a recording fake. Each method raises ``OSError``
with the call's errno and a short description, like ``os`` functions do.
"""

from __future__ import annotations

import errno
import os
import sys

from berth.runtime.linux import libc

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

# x86_64 syscall numbers for calls glibc has no wrapper for (asm/unistd_64.h).
_SYS_PIVOT_ROOT = 155
_SYS_KEYCTL = 250
_SYS_SET_MEMPOLICY = 238
_SYS_IOPRIO_SET = 251
_SYS_SCHED_SETATTR = 314
_SYS_SECCOMP = 317
_SYS_BPF = 321
_SYS_OPEN_TREE = 428
_SYS_MOVE_MOUNT = 429
_SYS_MOUNT_SETATTR = 442

# linux/sched.h clone flags, as unshare(2)/setns(2) take them.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NEWTIME = 0x00000080

# linux/mount.h mount flags.
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# linux/mount.h and fcntl.h: the new mount API's flags (open_tree(2), mount_setattr(2), move_mount(2)).
_OPEN_TREE_CLONE = 1
_AT_EMPTY_PATH = 0x1000
_AT_RECURSIVE = 0x8000
_MOVE_MOUNT_F_EMPTY_PATH = 0x4
_MOUNT_ATTR_IDMAP = 0x00100000
# linux/mount.h MOUNT_ATTR_*: the attributes mount_setattr(2) sets or clears on a whole tree.
MOUNT_ATTR_RDONLY = 0x00000001
MOUNT_ATTR_NOSUID = 0x00000002
MOUNT_ATTR_NODEV = 0x00000004
MOUNT_ATTR_NOEXEC = 0x00000008
MOUNT_ATTR_NOSYMFOLLOW = 0x00200000
_AT_FDCWD = -100

# linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_IOPRIO_WHO_PROCESS = 1  # linux/ioprio.h

_POLLIN = 1  # poll.h; struct pollfd is {int fd; short events; short revents}

# linux/keyctl.h: join (and create) a new anonymous session keyring.
_KEYCTL_JOIN_SESSION_KEYRING = 1
_SECCOMP_SET_MODE_FILTER = 1
_LINUX_CAPABILITY_VERSION_3 = 0x20080522

# linux/bpf.h: commands, the program type and the attach type of a cgroup v2 device filter.
_BPF_PROG_LOAD = 5
_BPF_PROG_ATTACH = 8
_BPF_PROG_TYPE_CGROUP_DEVICE = 15
_BPF_CGROUP_DEVICE = 6
_BPF_ATTR_SIZE = 128  # enough of union bpf_attr for both commands; the kernel wants the rest zero


class _Functions:
    """libc's functions by attribute (``c.mount``), looked up on first use."""

    def __getattr__(self, name: str) -> Any:
        return libc.function(name)


class Syscalls:
    """The real system calls, through libc."""

    _libc = _Functions()

    def _c(self) -> Any:
        return Syscalls._libc

    @staticmethod
    def _check(result: int, what: str) -> int:
        if result < 0:
            err = libc.get_errno()
            raise OSError(err, f"{what}: {os.strerror(err)}")
        return result

    def mount(self, source: str, target: str, fstype: str, flags: int, data: str = "") -> None:
        """mount(2)."""
        c = self._c()
        self._check(
            c.mount(source.encode(), target.encode(), fstype.encode() or None, libc.c_ulong(flags),
                    data.encode() or None),
            f"mount {source or fstype} on {target}",
        )  # fmt: skip

    def umount2(self, target: str, flags: int = 0) -> None:
        """umount2(2)."""
        self._check(self._c().umount2(target.encode(), flags), f"umount {target}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        """pivot_root(2)."""
        c = self._c()
        self._check(c.syscall(_SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()), "pivot_root")

    def open_tree_clone(self, path: str, recursive: bool) -> int:
        """open_tree(2) OPEN_TREE_CLONE: a detached copy of the mount at ``path`` (with the mounts
        below it if ``recursive``), as a close-on-exec fd."""
        flags = _OPEN_TREE_CLONE | os.O_CLOEXEC | (_AT_RECURSIVE if recursive else 0)
        return self._check(self._c().syscall(_SYS_OPEN_TREE, _AT_FDCWD, path.encode(), flags), "open_tree")

    def mount_setattr_idmap(self, mount_fd: int, userns_fd: int, recursive: bool) -> None:
        """mount_setattr(2) MOUNT_ATTR_IDMAP: map the detached mount's ids through ``userns_fd``'s
        maps."""
        flags = _AT_EMPTY_PATH | (_AT_RECURSIVE if recursive else 0)
        self._mount_setattr(mount_fd, b"", flags, (_MOUNT_ATTR_IDMAP, 0, 0, userns_fd))

    def mount_setattr_tree(self, target: str, attr_set: int, attr_clr: int) -> None:
        """mount_setattr(2) with AT_RECURSIVE: set and clear ``MOUNT_ATTR_*`` on the mount at
        ``target`` and every mount below it (runtime-spec config.md#mounts ``rro``, ``rnosuid``...)."""
        self._mount_setattr(_AT_FDCWD, target.encode(), _AT_RECURSIVE, (attr_set, attr_clr, 0, 0))

    def _mount_setattr(self, dfd: int, path: bytes, flags: int, fields: tuple[int, int, int, int]) -> None:
        # struct mount_attr is four u64: attr_set, attr_clr, propagation, userns_fd.
        attr = b"".join(v.to_bytes(8, sys.byteorder) for v in fields)
        self._check(
            self._c().syscall(_SYS_MOUNT_SETATTR, dfd, path, flags, libc.buffer(attr), len(attr)),
            "mount_setattr",
        )

    def move_mount(self, mount_fd: int, target: str) -> None:
        """move_mount(2): attach the detached mount ``mount_fd`` at ``target``."""
        self._check(
            self._c().syscall(
                _SYS_MOVE_MOUNT, mount_fd, b"", _AT_FDCWD, target.encode(), _MOVE_MOUNT_F_EMPTY_PATH
            ),
            "move_mount",
        )

    def unshare(self, flags: int) -> None:
        """unshare(2)."""
        self._check(self._c().unshare(flags), f"unshare({flags:#x})")

    def setns(self, fd: int, nstype: int = 0) -> None:
        """setns(2)."""
        self._check(self._c().setns(fd, nstype), f"setns({nstype:#x})")

    def prctl(self, option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
        """prctl(2); returns the call's result."""
        c = self._c()
        return self._check(
            c.prctl(option, libc.c_ulong(arg2), libc.c_ulong(arg3), libc.c_ulong(arg4),
                    libc.c_ulong(arg5)),
            f"prctl({option})",
        )  # fmt: skip

    def capset(self, effective: int, permitted: int, inheritable: int) -> None:
        """capset(2) of this thread, from 64-bit masks."""
        # struct __user_cap_header_struct {u32 version; int pid}, then two __user_cap_data_struct
        # {u32 effective, permitted, inheritable}: the low 32 capabilities, then the high ones.
        header = _u32(_LINUX_CAPABILITY_VERSION_3) + _u32(0)
        lo, hi = 0xFFFFFFFF, 32
        words = (effective & lo, permitted & lo, inheritable & lo, effective >> hi, permitted >> hi,
                 inheritable >> hi)  # fmt: skip
        raw = b"".join(_u32(w) for w in words)
        self._check(self._c().capset(libc.buffer(header), libc.buffer(raw)), "capset")

    def seccomp_set_mode_filter(self, program: bytes, flags: int) -> None:
        """seccomp(SECCOMP_SET_MODE_FILTER, flags, &sock_fprog) with ``program`` as raw sock_filter[]."""
        # struct sock_fprog {unsigned short len; (6 bytes padding) struct sock_filter *filter}. No
        # struct module: this runs in the init after pivot_root, where nothing more can be imported.
        count = len(program) // 8
        buf = libc.buffer(program)
        fprog = count.to_bytes(2, sys.byteorder) + bytes(6) + libc.addressof(buf).to_bytes(8, sys.byteorder)
        fbuf = libc.buffer(fprog)
        c = self._c()
        self._check(c.syscall(_SYS_SECCOMP, _SECCOMP_SET_MODE_FILTER, flags, fbuf), "seccomp")

    def sethostname(self, name: str) -> None:
        """sethostname(2)."""
        raw = name.encode()
        self._check(self._c().sethostname(raw, len(raw)), "sethostname")

    def setdomainname(self, name: str) -> None:
        """setdomainname(2)."""
        raw = name.encode()
        self._check(self._c().setdomainname(raw, len(raw)), "setdomainname")

    def join_session_keyring(self, name: str | None = None) -> None:
        """keyctl(KEYCTL_JOIN_SESSION_KEYRING): give the container its own session keyring."""
        c = self._c()
        self._check(
            c.syscall(_SYS_KEYCTL, _KEYCTL_JOIN_SESSION_KEYRING, name.encode() if name else None),
            "keyctl(join session keyring)",
        )

    def attach_cgroup_device_filter(self, program: bytes, cgroup_dir: str) -> None:
        """bpf(2): load ``program`` (raw struct bpf_insn[]) as a BPF_PROG_TYPE_CGROUP_DEVICE program and
        attach it to ``cgroup_dir`` as its BPF_CGROUP_DEVICE program. Flags 0: the cgroup holds one
        such program, so a later call (``update``) replaces it."""
        import struct

        from berth.runtime.linux.cgroups.devices_bpf import LICENSE

        c = self._c()
        insns = libc.buffer(program)
        license_ = libc.buffer(LICENSE, len(LICENSE) + 1)
        log = libc.buffer(b"", 65536)
        # union bpf_attr, BPF_PROG_LOAD: prog_type, insn_cnt, insns, license, log_level, log_size, log_buf
        load = libc.buffer(b"", _BPF_ATTR_SIZE)
        struct.pack_into(
            "IIQQIIQ", load, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
            libc.addressof(insns), libc.addressof(license_), 1, len(log), libc.addressof(log),
        )  # fmt: skip
        prog_fd = c.syscall(_SYS_BPF, _BPF_PROG_LOAD, load, _BPF_ATTR_SIZE)
        if prog_fd < 0:
            err = libc.get_errno()
            verifier = " ".join(log.value.decode(errors="replace").split())
            raise OSError(
                err, f"bpf(BPF_PROG_LOAD) of the device filter: {os.strerror(err)} {verifier}".strip()
            )
        try:
            cgroup_fd = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                # BPF_PROG_ATTACH: target_fd, attach_bpf_fd, attach_type, attach_flags
                attach = libc.buffer(b"", _BPF_ATTR_SIZE)
                struct.pack_into("IIII", attach, 0, cgroup_fd, prog_fd, _BPF_CGROUP_DEVICE, 0)
                self._check(
                    c.syscall(_SYS_BPF, _BPF_PROG_ATTACH, attach, _BPF_ATTR_SIZE),
                    f"bpf(BPF_PROG_ATTACH) of the device filter to {cgroup_dir}",
                )
            finally:
                os.close(cgroup_fd)
        finally:
            os.close(prog_fd)  # the attachment holds the program; removing the cgroup frees it

    def setrlimit(self, resource: int, soft: int, hard: int) -> None:
        """setrlimit(2) (struct rlimit: two 64-bit values; the ``resource`` module is a library more
        to load on every start)."""
        mask = 0xFFFF_FFFF_FFFF_FFFF  # -1, as the resource module spells RLIM_INFINITY, is all ones
        limits = libc.buffer(
            (soft & mask).to_bytes(8, sys.byteorder) + (hard & mask).to_bytes(8, sys.byteorder)
        )
        self._check(self._c().setrlimit(resource, limits), f"setrlimit({resource})")

    def readable_within(self, fd: int, timeout_ms: int) -> bool:
        """poll(2) ``fd`` for input (or hang-up) for up to ``timeout_ms``; True if it has some. (The
        ``select`` module is a library more to load on every start.)"""
        pollfd = libc.buffer(_u32(fd) + _POLLIN.to_bytes(2, sys.byteorder) + bytes(2))
        ready = self._c().poll(pollfd, 1, timeout_ms)
        if ready < 0 and libc.get_errno() == errno.EINTR:
            return False  # a signal: the caller polls again
        return self._check(ready, "poll") > 0

    def set_loopback_up(self) -> None:
        """Bring ``lo`` up in this network namespace (a new one starts with it down, runc raises it).

        netdevice(7): read the flags with SIOCGIFFLAGS, set IFF_UP with SIOCSIFFLAGS; ``struct
        ifreq`` is the 16-byte name followed by a union whose first member here is the short flags.
        """
        c = self._c()
        fd = self._check(c.socket(_AF_INET, _SOCK_DGRAM | _SOCK_CLOEXEC, 0), "socket")
        try:
            ifreq = libc.buffer(b"lo", _IFREQ_SIZE)
            self._check(c.ioctl(fd, _SIOCGIFFLAGS, ifreq), "SIOCGIFFLAGS lo")
            flags = int.from_bytes(ifreq.raw[16:18], "little") | _IFF_UP
            ifreq[16:18] = flags.to_bytes(2, "little")
            self._check(c.ioctl(fd, _SIOCSIFFLAGS, ifreq), "SIOCSIFFLAGS lo")
        finally:
            os.close(fd)

    def sched_setattr(
        self, policy: int, flags: int, nice: int, priority: int, runtime: int, deadline: int, period: int
    ) -> None:
        """sched_setattr(2) for the calling thread. ``struct sched_attr`` (its first version, 48
        bytes): u32 size, u32 policy, u64 flags, s32 nice, u32 priority, u64 runtime, deadline and
        period."""
        attr = (
            _u32(48) + _u32(policy) + flags.to_bytes(8, sys.byteorder)
            + nice.to_bytes(4, sys.byteorder, signed=True) + _u32(priority)
            + b"".join(v.to_bytes(8, sys.byteorder) for v in (runtime, deadline, period))
        )  # fmt: skip
        self._check(self._c().syscall(_SYS_SCHED_SETATTR, 0, libc.buffer(attr), 0), "sched_setattr")

    def ioprio_set(self, io_class: int, level: int) -> None:
        """ioprio_set(2) for the calling process (IOPRIO_WHO_PROCESS, pid 0); the kernel packs the
        class into the bits above 13."""
        self._check(
            self._c().syscall(_SYS_IOPRIO_SET, _IOPRIO_WHO_PROCESS, 0, io_class << 13 | level), "ioprio_set"
        )

    def set_mempolicy(self, mode: int, nodes: set[int]) -> None:
        """set_mempolicy(2) for the calling thread (kept across fork and execve). The node mask is an
        array of unsigned longs; the kernel reads one bit fewer than ``maxnode`` says."""
        words = max(nodes) // 64 + 1 if nodes else 0
        mask = sum(1 << node for node in nodes).to_bytes(8 * words, sys.byteorder)
        buffer = libc.buffer(mask) if nodes else None
        self._check(
            self._c().syscall(_SYS_SET_MEMPOLICY, mode, buffer, words * 64 + 1 if nodes else 0),
            "set_mempolicy",
        )

    def personality(self, persona: int) -> None:
        """personality(2)."""
        self._check(self._c().personality(libc.c_ulong(persona)), "personality")


# netdevice(7) and socket(2) numbers for set_loopback_up.
_AF_INET, _SOCK_DGRAM, _SOCK_CLOEXEC = 2, 2, 0o2000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP, _IFREQ_SIZE = 0x8913, 0x8914, 0x1, 40


def _u32(value: int) -> bytes:
    return value.to_bytes(4, sys.byteorder)


_REAL: Syscalls | None = None


def syscalls() -> Syscalls:
    """The process-wide real ``Syscalls``."""
    global _REAL
    if _REAL is None:
        _REAL = Syscalls()
    return _REAL
