"""What a standalone kubelet does to the host, recorded before it starts and undone after it stops
(shared/PEERS.md, the kubelet row): the kernel tunables it sets, its ``kubepods`` cgroups in every
hierarchy, its KUBE-* iptables chains and the rules that jump to them, the bind mount of its root
directory onto itself, and the files it writes in fixed places (/var/lib/kubelet, /var/log/pods,
/var/log/containers)."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: The tunables the kubelet's container manager sets (pkg/kubelet/cm, setupKernelTunables).
SYSCTLS = (
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
#: The places the kubelet writes whatever its --root-dir says.
FIXED_DIRS = (Path("/var/lib/kubelet"), Path("/var/log/pods"), Path("/var/log/containers"))
_CGROUPS = Path("/sys/fs/cgroup")
_TABLES = ("filter", "nat", "mangle")
_IPTABLES = ("iptables", "ip6tables")


def _iptables_lines(command: str, table: str) -> list[str]:
    done = subprocess.run([command, "-t", table, "-S"], capture_output=True, text=True)
    return done.stdout.splitlines() if done.returncode == 0 else []


def _kubepods() -> list[Path]:
    """Every hierarchy's ``kubepods`` cgroup (v1 mounts one hierarchy per directory; v2 is one)."""
    roots = [_CGROUPS] + [p for p in _CGROUPS.iterdir() if p.is_dir() and not p.is_symlink()]
    return [root / "kubepods" for root in roots if (root / "kubepods").is_dir()]


def _remove_cgroup_tree(path: Path) -> None:
    """rmdir(2) from the leaves up: a cgroup directory's files cannot be unlinked."""
    for dirpath, _dirs, _files in sorted(os.walk(path), key=lambda walked: -walked[0].count("/")):
        with contextlib.suppress(OSError):
            os.rmdir(dirpath)


def _mounted(path: Path) -> bool:
    text = Path("/proc/self/mountinfo").read_text()
    return any(line.split()[4] == str(path) for line in text.splitlines())


@dataclass
class HostBefore:
    """The host as it was before the kubelet started."""

    root_dir: Path
    sysctls: dict[str, str] = field(default_factory=dict)
    iptables: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    kubepods: list[Path] = field(default_factory=list)
    fixed: dict[Path, set[str] | None] = field(default_factory=dict)

    @classmethod
    def take(cls, root_dir: Path) -> HostBefore:
        """Record what the kubelet with ``--root-dir`` ``root_dir`` may change."""
        before = cls(root_dir)
        for name in SYSCTLS:
            with contextlib.suppress(OSError):
                before.sysctls[name] = Path("/proc/sys", name).read_text().strip()
        for command in _IPTABLES:
            for table in _TABLES:
                before.iptables[command, table] = _iptables_lines(command, table)
        before.kubepods = _kubepods()
        for place in FIXED_DIRS:
            before.fixed[place] = set(os.listdir(place)) if place.is_dir() else None
        return before

    def restore(self) -> list[str]:
        """Undo what the kubelet did (it has stopped); the lines say what was undone."""
        undone = self._restore_sysctls()
        undone += self._restore_iptables()
        for cgroup in set(_kubepods()) - set(self.kubepods):
            _remove_cgroup_tree(cgroup)
            undone.append(f"cgroup {cgroup}")
        while _mounted(self.root_dir):  # the kubelet's bind mount of its root dir onto itself
            subprocess.run(["umount", str(self.root_dir)], check=True)
            undone.append(f"mount {self.root_dir}")
        for place, entries in self.fixed.items():
            if entries is None and place.exists():
                shutil.rmtree(place)
                undone.append(f"directory {place}")
            elif entries is not None and place.is_dir():
                for name in set(os.listdir(place)) - entries:
                    _remove_path(place / name)
                    undone.append(f"file {place / name}")
        return undone

    def _restore_sysctls(self) -> list[str]:
        undone = []
        for name, value in self.sysctls.items():
            path = Path("/proc/sys", name)
            if path.read_text().strip() != value:
                path.write_text(value)
                undone.append(f"sysctl {name}={value}")
        return undone

    def _restore_iptables(self) -> list[str]:
        """Delete the rules the kubelet added (in any chain), then the chains it made."""
        undone = []
        for (command, table), before in self.iptables.items():
            now = _iptables_lines(command, table)
            new_rules = [line for line in now if line.startswith("-A ") and line not in before]
            new_chains = [line.split()[1] for line in now if line.startswith("-N ") and line not in before]
            for rule in new_rules:
                words = shlex.split(rule)  # -S prints iptables' own syntax, quotes included
                if "KUBE-" in rule and words[1] not in new_chains:  # (new chains are flushed below)
                    subprocess.run([command, "-t", table, "-D", *words[1:]], check=True)
                    undone.append(f"{command} -t {table} {rule}")
            for chain in [c for c in new_chains if c.startswith("KUBE-")]:
                subprocess.run([command, "-t", table, "-F", chain], check=True)
                subprocess.run([command, "-t", table, "-X", chain], check=True)
                undone.append(f"{command} -t {table} chain {chain}")
        return undone


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


@contextlib.contextmanager
def kubelet_undone(root_dir: Path) -> Iterator[HostBefore]:
    """Record the host, and restore it at the end of the block (the kubelet stopped inside it);
    what was undone is printed (pytest shows it with a failure, or with -s)."""
    before = HostBefore.take(root_dir)
    try:
        yield before
    finally:
        print("undone:", *before.restore(), sep="\n  ")
