"""cgroup v2 device rules enforced by the kernel: the manager's eBPF program, loaded and attached by
the runtime's bpf(2) loader (``Syscalls.attach_cgroup_device_filter``) to a cgroup on this host's
cgroup2 mount."""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest

from berth.runtime.linux.cgroups.v2 import V2Manager
from berth.runtime.linux.syscalls import syscalls
from tests.integration.runtime_cgroups.children import run_in, unique_name

UNIFIED = "/sys/fs/cgroup/unified"
pytestmark = [
    pytest.mark.root,
    pytest.mark.timeout(60),
    pytest.mark.skipif(
        os.geteuid() != 0 or platform.machine() != "x86_64" or not Path(UNIFIED, "cgroup.procs").exists(),
        reason="needs root, x86_64's bpf(2) number and a cgroup2 mount",
    ),
]


@pytest.fixture
def manager() -> Iterator[V2Manager]:
    mgr = V2Manager.open(unique_name(), mountpoint=UNIFIED)
    mgr.create()
    mgr.set_device_filter_loader(syscalls().attach_cgroup_device_filter)
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
    returncode, out, err = run_in(manager, OPEN_DEVICES)
    assert returncode == 0, err
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


def test_a_program_the_verifier_refuses_is_one_error_line(manager: V2Manager) -> None:
    # One instruction that is not BPF_EXIT: the verifier rejects it, and the error says which call.
    with pytest.raises(OSError, match="BPF_PROG_LOAD") as caught:
        syscalls().attach_cgroup_device_filter(bytes(8), manager.path)
    assert "\n" not in str(caught.value)
