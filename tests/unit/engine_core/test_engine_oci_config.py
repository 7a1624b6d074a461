"""The generated runtime configuration: conversion order, defaults, security and resources."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from berth.engine.containers import seccomp
from berth.engine.containers.oci_config import build_config, process_args
from berth.engine.containers.seccomp import default_seccomp, load_seccomp
from berth.engine.containers.security import DEFAULT_CAPABILITIES, capabilities
from berth.engine.images.store import ImageSettings
from berth.engine.options import CreateOptions
from berth.errors import InvalidArgument


def _build(rootfs: Path, opts: CreateOptions, image: ImageSettings | None = None) -> dict[str, Any]:
    return build_config(opts, image or ImageSettings(cmd=["sh"]), rootfs, "c" * 64, [], "", "/berth-x")


def test_args_follow_conversion_rules() -> None:
    image = ImageSettings(entrypoint=["/entry"], cmd=["default"])
    assert process_args(CreateOptions(), image) == ["/entry", "default"]
    assert process_args(CreateOptions(command=["mine"]), image) == ["/entry", "mine"]
    assert process_args(CreateOptions(entrypoint=["/other"]), image) == ["/other"]
    assert process_args(CreateOptions(entrypoint=[], command=["x"]), image) == ["x"]
    with pytest.raises(InvalidArgument, match="no command"):
        process_args(CreateOptions(), ImageSettings())


def test_defaults(rootfs: Path) -> None:
    cfg = _build(rootfs, CreateOptions())
    proc = cfg["process"]
    assert proc["user"] == {"uid": 0, "gid": 0, "additionalGids": []}
    assert proc["capabilities"]["bounding"] == list(DEFAULT_CAPABILITIES)
    assert proc["env"][0].startswith("PATH=") and "HOME=/root" in proc["env"]
    assert cfg["hostname"] == "c" * 12 and cfg["root"] == {"path": str(rootfs), "readonly": False}
    assert {"type": "network"} in cfg["linux"]["namespaces"]
    assert cfg["linux"]["cgroupsPath"] == "/berth-x"
    assert "/proc/kcore" in cfg["linux"]["maskedPaths"]
    assert cfg["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
    assert cfg["linux"]["resources"]["devices"] == [{"allow": False, "access": "rwm"}]
    assert {m["destination"] for m in cfg["mounts"]} >= {"/proc", "/dev", "/dev/pts", "/sys"}


def test_image_then_flags(rootfs: Path) -> None:
    image = ImageSettings(env=["A=image", "B=image"], cmd=["sh"], working_dir="/srv", user="berth")
    opts = CreateOptions(env=["B=flag"], workdir="/tmp", user="0:2000", tty=True, hostname="h")
    proc = _build(rootfs, opts, image)["process"]
    assert "A=image" in proc["env"] and "B=flag" in proc["env"] and "TERM=xterm" in proc["env"]
    assert (proc["cwd"], proc["user"]["uid"], proc["user"]["gid"], proc["terminal"]) == (
        "/tmp",
        0,
        2000,
        True,
    )
    non_root = _build(rootfs, CreateOptions(), image)["process"]
    assert non_root["user"]["uid"] == 1000 and non_root["capabilities"]["effective"] == []


def test_resources_and_read_only(rootfs: Path) -> None:
    cfg = _build(rootfs, CreateOptions(memory="64m", cpus="1.5", pids_limit=10, read_only=True))
    res = cfg["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 64 << 20}
    assert res["cpu"] == {"quota": 150000, "period": 100000} and res["pids"] == {"limit": 10}
    assert cfg["root"]["readonly"] and {"/tmp", "/run"} <= {m["destination"] for m in cfg["mounts"]}
    with pytest.raises(InvalidArgument, match="minimum"):
        _build(rootfs, CreateOptions(memory="1k"))


def test_security_options(rootfs: Path, tmp_path: Path) -> None:
    cfg = _build(rootfs, CreateOptions(security_opt=["no-new-privileges", "seccomp=unconfined"]))
    assert cfg["process"]["noNewPrivileges"] and "seccomp" not in cfg["linux"]
    privileged = _build(rootfs, CreateOptions(privileged=True))
    assert "seccomp" not in privileged["linux"] and "maskedPaths" not in privileged["linux"]
    assert len(privileged["process"]["capabilities"]["bounding"]) > 30
    profile = tmp_path / "p.json"
    profile.write_text(
        '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},'
        ' {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}}]}'
    )
    loaded = _build(rootfs, CreateOptions(security_opt=[f"seccomp={profile}"]))["linux"]["seccomp"]
    assert loaded["defaultAction"] == "SCMP_ACT_ERRNO" and [r["names"] for r in loaded["syscalls"]] == [
        ["read"]
    ]
    with pytest.raises(InvalidArgument):
        _build(rootfs, CreateOptions(security_opt=["label=disable"]))
    with pytest.raises(InvalidArgument):
        load_seccomp(str(tmp_path / "missing.json"), [])


def test_capability_arithmetic() -> None:
    caps = capabilities(["NET_ADMIN", "cap_sys_admin"], ["chown", "CAP_KILL"], False)
    assert (
        "CAP_NET_ADMIN" in caps
        and "CAP_SYS_ADMIN" in caps
        and "CAP_CHOWN" not in caps
        and "CAP_KILL" not in caps
    )
    assert capabilities(["CAP_KILL"], ["ALL"], False) == ["CAP_KILL"]
    with pytest.raises(InvalidArgument):
        capabilities(["CAP_FLY"], [], False)


def _verdicts(profile: dict[str, Any], name: str) -> list[tuple[str, Any]]:
    """The (action, args) of every rule naming ``name``."""
    return [(r["action"], r.get("args")) for r in profile["syscalls"] if name in r["names"]]


def test_default_seccomp_is_an_allow_list_gated_by_capabilities() -> None:
    plain = default_seccomp(list(DEFAULT_CAPABILITIES))
    assert (plain["defaultAction"], plain["defaultErrnoRet"]) == ("SCMP_ACT_ERRNO", 38)
    for name in ("read", "execve", "socket", "chroot", "futex", "wait4"):
        assert _verdicts(plain, name) == [("SCMP_ACT_ALLOW", None)], name
    for name in ("mount", "unshare", "setns", "ptrace", "keyctl", "reboot", "init_module", "clone3"):
        assert _verdicts(plain, name) == [("SCMP_ACT_ERRNO", None)], name
    # clone only without namespace flags; personality only with the listed personas
    ((action, args),) = _verdicts(plain, "clone")
    assert (
        action == "SCMP_ACT_ALLOW" and args[0]["op"] == "SCMP_CMP_MASKED_EQ" and args[0]["value"] & 0x10000000
    )
    assert {a[0]["value"] for _, a in _verdicts(plain, "personality")} == {0, 8, 0x20000, 0x20008, 0xFFFFFFFF}
    admin = default_seccomp([*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"])
    for name in ("mount", "unshare", "setns", "clone3", "clone", "ptrace", "process_vm_readv"):
        assert _verdicts(admin, name) == [("SCMP_ACT_ALLOW", None)], name
    assert _verdicts(admin, "keyctl") == [("SCMP_ACT_ERRNO", None)]
    # a capability that gates nothing the profile withholds changes nothing but its own calls
    nochroot = default_seccomp([c for c in DEFAULT_CAPABILITIES if c != "CAP_SYS_CHROOT"])
    assert _verdicts(nochroot, "chroot") == [("SCMP_ACT_ERRNO", None)]


@pytest.mark.parametrize("x32", [True, False])
def test_default_seccomp_covers_x32_only_where_the_kernel_runs_it(
    monkeypatch: pytest.MonkeyPatch, x32: bool
) -> None:
    monkeypatch.setattr(seccomp, "_machine", lambda: "x86_64")
    monkeypatch.setattr(seccomp, "_kernel_runs_x32", lambda: x32)
    expected = ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", *(["SCMP_ARCH_X32"] if x32 else [])]
    assert default_seccomp(list(DEFAULT_CAPABILITIES))["architectures"] == expected
    monkeypatch.setattr(seccomp, "_machine", lambda: "aarch64")
    assert default_seccomp([])["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]


# In a child: confine it with an allow-all seccomp filter, then ask. Confined, the answer must be
# yes without the x32 call being made (a filter that does not cover x32 may kill its caller).
_CONFINED_ASK = """
import ctypes, struct
libc = ctypes.CDLL(None, use_errno=True)
program = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0x7FFF0000))  # ret ALLOW
fprog = struct.pack("HxxxxxxQ", 1, ctypes.addressof(program))
assert libc.prctl(38, 1, 0, 0, 0) == 0  # PR_SET_NO_NEW_PRIVS
assert libc.prctl(22, 2, ctypes.c_char_p(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
from berth.engine.containers import seccomp
print(seccomp._kernel_runs_x32())
"""


@pytest.mark.skipif(platform.machine() != "x86_64", reason="x32 is an x86_64 ABI")
def test_x32_probe_asks_the_kernel_only_while_unconfined() -> None:
    import ctypes

    from berth.runtime.linux.seccomp_enosys import X32_SYSCALL_BIT

    seccomp._kernel_runs_x32.cache_clear()
    libc = ctypes.CDLL(None, use_errno=True)
    answered = libc.syscall(X32_SYSCALL_BIT | seccomp._NR_GETPID) >= 0
    assert seccomp._kernel_runs_x32() is answered
    child = subprocess.run([sys.executable, "-c", _CONFINED_ASK], capture_output=True, text=True, check=True)
    assert child.stdout.strip() == "True"


def test_docker_profile_rules_resolved_by_arch_and_caps(tmp_path: Path) -> None:
    profile = tmp_path / "p.json"
    rules = [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390x"]}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
        {"names": ["c"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    ]
    profile.write_text(
        json.dumps({"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": 1, "syscalls": rules})
    )
    names = [r["names"] for r in load_seccomp(str(profile), ["CAP_SYS_ADMIN"])["syscalls"]]
    assert names == ([["c"]] if platform.machine() != "s390x" else [["a"], ["c"]])
    assert load_seccomp(str(profile), [])["defaultErrnoRet"] == 1


def test_host_namespaces_groups_and_init(rootfs: Path) -> None:
    cfg = _build(rootfs, CreateOptions(pid="host", uts="host", group_add=["2000", "extra", "7"], init=True))
    types = {ns["type"] for ns in cfg["linux"]["namespaces"]}
    assert "pid" not in types and "uts" not in types and "ipc" in types
    assert "hostname" not in cfg  # config.md#hostname: only with a UTS namespace of its own
    assert cfg["process"]["user"]["additionalGids"] == [2000, 7]
    assert cfg["process"]["args"] == ["/run/berth-init", "--", "sh"]
    assert any(m["destination"] == "/run/berth-init" for m in cfg["mounts"])
    with pytest.raises(InvalidArgument, match="--pid"):
        _build(rootfs, CreateOptions(pid="container:x"))
    with pytest.raises(InvalidArgument, match="unable to find group"):
        _build(rootfs, CreateOptions(group_add=["nosuch"]))


def test_cpu_and_memory_resources(rootfs: Path) -> None:
    opts = CreateOptions(
        memory="64m",
        memory_swap="128m",
        memory_swappiness=40,
        cpu_shares=512,
        cpuset_cpus="0",
        cpuset_mems="0",
    )
    res = _build(rootfs, opts)["linux"]["resources"]
    assert res["memory"] == {"limit": 64 << 20, "swap": 128 << 20, "swappiness": 40}
    assert res["cpu"] == {"shares": 512, "cpus": "0", "mems": "0"}
    realtime = _build(rootfs, CreateOptions(cpu_rt_period=1000, cpu_rt_runtime=500))["linux"]["resources"]
    assert realtime["cpu"] == {"realtimePeriod": 1000, "realtimeRuntime": 500}
    assert (
        _build(rootfs, CreateOptions(memory="64m", memory_swap="-1"))["linux"]["resources"]["memory"]["swap"]
        == -1
    )
    for bad, message in (
        (CreateOptions(memory_swap="1g"), "needs --memory"),
        (CreateOptions(memory="64m", memory_swap="32m"), "less than --memory"),
        (CreateOptions(cpuset_cpus="0-"), "--cpuset-cpus"),
        (CreateOptions(memory_swappiness=101), "--memory-swappiness"),
    ):
        with pytest.raises(InvalidArgument, match=message):
            _build(rootfs, bad)
