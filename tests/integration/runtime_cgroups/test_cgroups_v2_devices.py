"""cgroup v2 device rules enforced by the kernel: the manager's eBPF program, loaded by a test-local
bpf(2) loader (the runtime's own loader lives in its syscall module), attached to a cgroup on this
host's cgroup2 mount."""

from __future__ import annotations

import ctypes
import os
import platform
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.errors import BerthError
from berth.runtime.linux.cgroups.devices_bpf import LICENSE
from berth.runtime.linux.cgroups.v2 import V2Manager
from tests.integration.runtime_cgroups.children import go, stop, unique_name, waiting_child

UNIFIED = "/sys/fs/cgroup/unified"
pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        os.geteuid() != 0 or platform.machine() != "x86_64" or not Path(UNIFIED, "cgroup.procs").exists(),
        reason="needs root, x86_64's bpf(2) number and a cgroup2 mount",
    ),
]

_SYS_BPF = 321
_BPF_PROG_LOAD, _BPF_PROG_ATTACH = 5, 8
_BPF_PROG_TYPE_CGROUP_DEVICE, _BPF_CGROUP_DEVICE = 15, 6
_libc = ctypes.CDLL(None, use_errno=True)


def _bpf(cmd: int, attr: bytearray) -> int:
    buf = (ctypes.c_char * len(attr)).from_buffer(attr)
    rc = int(_libc.syscall(_SYS_BPF, cmd, buf, len(attr)))
    if rc < 0:
        raise BerthError(f"bpf({cmd}): {os.strerror(ctypes.get_errno())}")
    return rc


def load_and_attach(program: bytes, cgroup: str) -> None:
    """BPF_PROG_LOAD as BPF_PROG_TYPE_CGROUP_DEVICE, then BPF_PROG_ATTACH to ``cgroup``."""
    insns = ctypes.create_string_buffer(program, len(program))
    lic = ctypes.create_string_buffer(LICENSE)
    log = ctypes.create_string_buffer(65536)
    attr = bytearray(128)  # union bpf_attr, load variant: type, insn_cnt, insns, license, log...
    struct.pack_into(
        "<IIQQIIQ", attr, 0, _BPF_PROG_TYPE_CGROUP_DEVICE, len(program) // 8,
        ctypes.addressof(insns), ctypes.addressof(lic), 1, len(log), ctypes.addressof(log),
    )  # fmt: skip
    try:
        prog_fd = _bpf(_BPF_PROG_LOAD, attr)
    except BerthError as err:
        raise BerthError(f"{err}: {log.value.decode(errors='replace')}") from None
    cgroup_fd = os.open(cgroup, os.O_RDONLY | os.O_DIRECTORY)
    try:
        attach = bytearray(128)
        struct.pack_into("<IIII", attach, 0, cgroup_fd, prog_fd, _BPF_CGROUP_DEVICE, 0)
        _bpf(_BPF_PROG_ATTACH, attach)
    finally:
        os.close(cgroup_fd)
        os.close(prog_fd)  # the attachment keeps the program; removing the cgroup frees it


@pytest.fixture
def manager() -> Iterator[V2Manager]:
    mgr = V2Manager.open(unique_name(), mountpoint=UNIFIED)
    mgr.create()
    mgr.set_device_filter_loader(load_and_attach)
    try:
        yield mgr
    finally:
        mgr.destroy()


OPEN_DEVICES = """
import os
for path in ("/dev/null", "/dev/zero", "/dev/full"):
    for flags, mode in ((os.O_RDONLY, "r"), (os.O_WRONLY, "w")):
        try:
            os.close(os.open(path, flags))
            print(path, mode, "ok")
        except PermissionError:
            print(path, mode, "denied")
"""


def _opens(manager: V2Manager) -> list[str]:
    child = waiting_child(OPEN_DEVICES)
    try:
        manager.add_process(child.pid)
        go(child)
        out, err = child.communicate(timeout=30)
    finally:
        stop(child)
    assert child.returncode == 0, err
    return out.splitlines()


def test_deny_all_then_allow_one_device(manager: V2Manager) -> None:
    manager.set_resources(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # /dev/null
                {"allow": True, "type": "c", "major": 1, "minor": 7, "access": "r"},  # /dev/full, read only
            ]
        }
    )
    assert _opens(manager) == [
        "/dev/null r ok",
        "/dev/null w ok",
        "/dev/zero r denied",
        "/dev/zero w denied",
        "/dev/full r ok",
        "/dev/full w denied",
    ]


def test_a_later_deny_overrides_an_earlier_allow(manager: V2Manager) -> None:
    manager.set_resources(
        {
            "devices": [
                {"allow": True, "type": "c", "major": 1, "access": "rwm"},
                {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"},  # /dev/zero writes
            ]
        }
    )
    assert "/dev/zero w denied" in _opens(manager)
    assert "/dev/zero r ok" in _opens(manager)


def test_an_update_replaces_the_program(manager: V2Manager) -> None:
    # Attaching again without BPF_F_ALLOW_MULTI replaces the program (what `update` relies on).
    manager.set_resources(
        {"devices": [{"allow": False}, {"allow": True, "type": "c", "major": 1, "minor": 3}]}
    )
    assert "/dev/zero r denied" in _opens(manager)
    manager.set_resources({"devices": [{"allow": False}, {"allow": True, "type": "c", "major": 1}]})
    assert "/dev/zero r ok" in _opens(manager)


def test_allow_all_lifts_earlier_rules(manager: V2Manager) -> None:
    manager.set_resources({"devices": [{"allow": False}]})
    assert "/dev/null r denied" in _opens(manager)
    manager.set_resources({"devices": [{"allow": True, "access": "rwm"}]})
    assert "/dev/null r ok" in _opens(manager)
