"""Fixtures for the engine's real-kernel tests: temporary roots, a busybox root, a ``berth`` runner."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.busybox import make_rootfs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


@dataclass
class Berth:
    """Runs the ``berth`` command with the test's roots and runc."""

    root: Path
    runroot: Path
    rootfs: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "BERTH_ROOT": str(self.root),
            "BERTH_RUNROOT": str(self.runroot),
            "BERTH_RUNTIME": "runc",
            "BERTH_CONFIG": str(self.config_file),
        }

    @property
    def config_file(self) -> Path:
        """A berth.toml giving this test its own default network (bridge name and subnet), so tests
        never share a bridge with each other or with other users of Berth on the host."""
        path = self.root.parent / f"{self.root.name}-berth.toml"
        if not path.exists():
            tag, subnet = _free_subnet()
            # Written whole under another name, then linked in: threads of one test (the restart
            # stress test's) ask at once, and the first link wins; none reads a half-written file.
            draft = path.with_name(f"{path.name}.{tag}")
            draft.write_text(f'[network]\ndefault_network = "berth{tag}"\ndefault_subnet = "{subnet}"\n')
            with contextlib.suppress(FileExistsError):
                os.link(draft, path)
            draft.unlink()
        return path

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "berth.cli.main", *args]

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 60, **kw: Any
    ) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self.argv(*args), env=self.env, capture_output=True, text=True, timeout=timeout, **kw
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"berth {' '.join(args)} exited {proc.returncode}: {proc.stderr}{proc.stdout}"
            )
        return proc

    def popen(self, *args: str, **kw: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(self.argv(*args), env=self.env, text=True, **kw)

    def _run_args(self, args: tuple[str, ...]) -> list[str]:
        split = args.index("--") if "--" in args else len(args)
        flags, command = args[:split], args[split + 1 :]
        return ["run", *flags, "--rootfs", str(self.rootfs), *command]

    def run(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """``berth run`` on the busybox root: flags, ``--``, then the command."""
        return self(*self._run_args(args), check=check, timeout=timeout)

    def popen_run(self, *args: str) -> subprocess.Popen[str]:
        """``berth run`` on the busybox root in the background, output piped: flags, ``--``, command."""
        return self.popen(*self._run_args(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def inspect(self, name: str) -> dict[str, Any]:
        doc: list[dict[str, Any]] = json.loads(self("inspect", name).stdout)
        return doc[0]

    def inspect_missing(self, name: str) -> bool:
        """Whether ``name`` is gone (inspect fails with 'no such container')."""
        out = self("inspect", name, check=False)
        return out.returncode == 125 and "no such container" in out.stderr

    def cleanup(self) -> None:
        """Remove every container, network and volume the test left (the test's own leak guard)."""
        self("rm", "-a", "-f", check=False)
        for net in self("network", "ls", "-q", check=False).stdout.split():
            self("network", "rm", "-f", net, check=False)
        self("volume", "prune", "-f", check=False)


def import_busybox(berth: Berth, scratch: Path, commands: dict[str, str]) -> None:
    """The busybox root imported as each image of ``commands`` (name: its ``CMD`` instruction);
    the tarball is made in ``scratch`` and removed."""
    import tarfile

    tarball = scratch / "rootfs.tar"
    with tarfile.open(tarball, "w") as tar:
        tar.add(berth.rootfs, arcname=".")
    for name, cmd in commands.items():
        berth("import", str(tarball), name, "-c", cmd)
    tarball.unlink()


def wait_for(predicate: Callable[[], bool], what: str, limit: float = 30.0) -> None:
    """Poll ``predicate`` until it holds; fail naming ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def busybox_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("engine-busybox") / "rootfs")


@pytest.fixture
def berth(tmp_path: Path, busybox_root: Path, host_network_unchanged: None) -> Iterator[Berth]:
    b = Berth(tmp_path / "root", tmp_path / "run", busybox_root)
    try:
        yield b
    finally:
        b.cleanup()


def _free_subnet() -> tuple[str, str]:
    """A random tag and a /24 under 10.200.0.0/13 that no route on the host overlaps: bridges that
    other software (or an earlier run) left keep their routes, and Berth refuses a subnet that
    overlaps one."""
    import ipaddress

    routed = []
    with open("/proc/net/route") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            # Destination and Mask, in the kernel's (little-endian) byte order
            destination, mask = (ipaddress.IPv4Address(bytes.fromhex(fields[i])[::-1]) for i in (1, 7))
            if int(mask):  # (the default route overlaps everything)
                routed.append(ipaddress.ip_network(f"{destination}/{mask}"))
    while True:
        tag = os.urandom(3).hex()
        subnet = ipaddress.ip_network(f"10.{200 + int(tag[:2], 16) % 50}.{int(tag[2:4], 16)}.0/24")
        if not any(subnet.overlaps(net) for net in routed):
            return tag, str(subnet)


def _iptables_rules() -> set[str]:
    lines = []
    for tool in ("iptables-save", "ip6tables-save"):
        lines += subprocess.run([tool], capture_output=True, text=True, check=True).stdout.splitlines()
    # The CNI plugins' rules and the networks' own (masquerade, isolation); counters change by themselves.
    ours = [line for line in lines if "CNI" in line or '"berth network ' in line]
    return {line.split(" [")[0] for line in ours}


def _links() -> set[str]:
    return {name for name in os.listdir("/sys/class/net") if name.startswith("berth")}


def _made_by_test(tmp_path: Path) -> set[str]:
    """What the test's Berth roots made that the host's network names: container ids, network and
    bridge names, read from their event logs, and the default networks their config files name."""
    import tomllib

    made: set[str] = set()
    for log in tmp_path.rglob("events.log*"):
        for line in log.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("Type") == "container":
                made.add(event.get("ID", ""))
            elif event.get("Type") == "network":
                made.update((event.get("Name", ""), (event.get("Attributes") or {}).get("bridge", "")))
    for conf in tmp_path.glob("*-berth.toml"):
        made.add(tomllib.loads(conf.read_text()).get("network", {}).get("default_network", ""))
    return made - {""}


def _names_one_of(line: str, made: set[str]) -> bool:
    """Whether an iptables rule names one of ``made``: CNI's comments (``name: "NET" id: "CID"``),
    the masquerade rule's (``berth network NET``), a bridge as an interface."""
    forms = ('\\"{}\\"', '"{}"', 'berth network {}"', " {} ")  # CNI's quotes come escaped
    return any(form.format(m) in line for m in made for form in forms)


@pytest.fixture
def host_network_unchanged(tmp_path: Path) -> Iterator[None]:
    """Fail if the test leaves iptables rules or network devices behind. Only what this test made
    counts (other Berths and CNI users on the host come and go meanwhile)."""
    rules, links = _iptables_rules(), _links()
    yield
    made = _made_by_test(tmp_path)
    left = sorted(rule for rule in _iptables_rules() - rules if _names_one_of(rule, made))
    assert not left, f"iptables rules left: {left}"
    devices = sorted((_links() - links) & made)
    assert not devices, f"network devices left: {devices}"
