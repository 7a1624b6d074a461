"""Namespaces, mounts, devices and the process's identity inside real containers."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.busybox import make_rootfs
from tests.integration.runtime.conftest import RUNTIME, Runtime, base_config

pytestmark = [pytest.mark.root, pytest.mark.timeout(60)]


def mounts_under(root: Path) -> list[str]:
    """The host's mountinfo lines for ``root`` and below (other software's mounts come and go)."""
    lines = Path("/proc/self/mountinfo").read_text().splitlines()
    return [line for line in lines if (line.split()[4] + "/").startswith(f"{root}/")]


def output_of(runtime: Runtime, config: dict[str, Any]) -> str:
    done = runtime.run(config)
    assert done.returncode == 0, done.stderr
    return done.stdout


def sh(runtime: Runtime, script: str) -> dict[str, Any]:
    return base_config(runtime.rootfs, ["sh", "-c", script])


@pytest.mark.parametrize("ns", ["pid", "net", "ipc", "uts", "mnt", "cgroup", "time"])
def test_each_new_namespace_differs_from_the_host(runtime: Runtime, ns: str) -> None:
    config = sh(runtime, f"readlink /proc/self/ns/{ns}")
    config["linux"]["namespaces"] += [{"type": "cgroup"}, {"type": "time"}]
    inside = output_of(runtime, config).strip()
    assert inside and inside != os.readlink(f"/proc/self/ns/{ns}")


def test_new_cgroup_namespace_is_rooted_at_the_containers_cgroup(runtime: Runtime) -> None:
    # cgroup_namespaces(7): the init unshares it once the runtime has moved it into its cgroup.
    config = sh(runtime, "cat /proc/self/cgroup")
    config["linux"]["namespaces"].append({"type": "cgroup"})
    paths = {line.split(":", 2)[2] for line in output_of(runtime, config).splitlines()}
    assert paths == {"/"}


def test_new_network_namespace_has_loopback_up(runtime: Runtime) -> None:
    # As runc: 127.0.0.1 works in a container's own network namespace (IFF_UP is bit 0 of flags).
    flags = output_of(runtime, sh(runtime, "cat /sys/class/net/lo/flags")).strip()
    assert int(flags, 16) & 0x1


def test_pid_namespace_makes_the_process_pid_1(runtime: Runtime) -> None:
    assert output_of(runtime, sh(runtime, "echo $$")).strip() == "1"


def test_joining_a_namespace_by_path(runtime: Runtime) -> None:
    holder = subprocess.Popen(["unshare", "--net", "sleep", "60"])
    try:
        path = f"/proc/{holder.pid}/ns/net"
        deadline = time.monotonic() + 5
        while os.readlink(path) == os.readlink("/proc/self/ns/net"):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        config = sh(runtime, "readlink /proc/self/ns/net")
        config["linux"]["namespaces"] = [
            {"type": "network", "path": path} if ns["type"] == "network" else ns
            for ns in config["linux"]["namespaces"]
        ]
        assert output_of(runtime, config).strip() == os.readlink(path)
    finally:
        holder.kill()
        holder.wait()


def test_user_namespace_with_mappings(runtime: Runtime) -> None:
    config = sh(runtime, "cat /proc/self/uid_map /proc/self/gid_map; id -u")
    config["linux"]["namespaces"].append({"type": "user"})
    config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
    lines = [line.split() for line in output_of(runtime, config).splitlines()]
    assert lines == [["0", "0", "65536"], ["0", "0", "65536"], ["0"]]


def test_user_namespace_mapping_root_to_an_unprivileged_host_user(runtime: Runtime) -> None:
    # The init is then no host root and cannot open the state directory: the runtime hands it the
    # exec FIFO already open.
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        os.chmod(tmp, 0o755)  # the mapped root must reach its root filesystem (pytest's tmp is 0700)
        config = base_config(make_rootfs(Path(tmp) / "rootfs"), ["sh", "-c", "id -u; cat /proc/self/uid_map"])
        config["linux"]["namespaces"].append({"type": "user"})
        config["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        config["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        lines = [line.split() for line in output_of(runtime, config).splitlines()]
    assert lines == [["0"], ["0", "100000", "65536"]]


def test_no_mount_namespace_shares_the_runtimes_mounts_and_delete_removes_them(runtime: Runtime) -> None:
    # As runc: the container is chrooted, its mounts land in the runtime's mount namespace.
    config = sh(runtime, "readlink /proc/self/ns/mnt; test -e /bin/busybox && echo chrooted")
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "mount"]
    del config["linux"]["maskedPaths"], config["linux"]["readonlyPaths"]
    before = mounts_under(runtime.rootfs)
    assert output_of(runtime, config).split() == [os.readlink("/proc/self/ns/mnt"), "chrooted"]
    assert mounts_under(runtime.rootfs) == before


def test_masked_paths_without_a_mount_namespace_are_refused(runtime: Runtime) -> None:
    config = sh(runtime, "true")
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "mount"]
    done = runtime.run(config)
    assert done.returncode != 0 and "without a mount namespace" in done.stderr
    assert not runtime.root.exists() or not list(runtime.root.iterdir())


def test_hostname_and_domainname(runtime: Runtime) -> None:
    config = sh(runtime, "hostname; cat /proc/sys/kernel/domainname")
    config["hostname"], config["domainname"] = "box", "example.test"
    assert output_of(runtime, config).split() == ["box", "example.test"]


def test_hostname_without_uts_namespace_is_an_error(runtime: Runtime) -> None:
    config = sh(runtime, "true")
    config["linux"]["namespaces"] = [ns for ns in config["linux"]["namespaces"] if ns["type"] != "uts"]
    done = runtime.run(config)
    assert done.returncode != 0 and "UTS namespace" in done.stderr


def test_mount_kinds_and_options(runtime: Runtime, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from host\n")
    config = sh(
        runtime,
        "cat /data/hello; echo x > /data/new 2>/dev/null && echo writable || echo readonly;"
        " grep -E ' /(scratch|data|rw|dev/pts|dev/mqueue|sys/fs/cgroup/memory) ' /proc/self/mountinfo",
    )
    config["mounts"] += [
        {"destination": "/data", "type": "bind", "source": str(shared), "options": ["rbind", "ro", "nosuid"]},
        {"destination": "/rw", "type": "bind", "source": str(shared), "options": ["bind", "rprivate"]},
        {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs", "options": ["noexec", "size=1m"]},
    ]
    out = output_of(runtime, config)
    assert out.startswith("from host\nreadonly\n")
    mounts = {line.split()[4]: line for line in out.splitlines()[2:]}
    assert " ro," in mounts["/data"] and "nosuid" in mounts["/data"]
    assert " rw," in mounts["/rw"]
    assert "noexec" in mounts["/scratch"] and " - tmpfs " in mounts["/scratch"]
    assert " - devpts " in mounts["/dev/pts"] and " - mqueue " in mounts["/dev/mqueue"]
    assert " - cgroup " in mounts["/sys/fs/cgroup/memory"]
    assert not (shared / "new").exists()


@pytest.fixture
def shared_dir(tmp_path: Path) -> Any:
    """A directory bound onto itself as a shared mount (kubelet's volumes are so)."""
    shared = tmp_path / "shared"
    shared.mkdir()
    subprocess.run(["mount", "--bind", str(shared), str(shared)], check=True)
    subprocess.run(["mount", "--make-rshared", str(shared)], check=True)
    yield shared
    subprocess.run(["umount", "--lazy", "--recursive", str(shared)], check=True)


def test_recursive_read_only_and_bidirectional_binds(runtime: Runtime, shared_dir: Path) -> None:
    """rro makes the mounts below the source read-only too (mount_setattr); an rshared bind with
    rootfsPropagation rshared carries a mount made in the container back to the host."""
    (shared_dir / "sub").mkdir()
    (shared_dir / "back").mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "tmpfs", str(shared_dir / "sub")], check=True)
    config = sh(
        runtime,
        "touch /ro/sub/a 2>/dev/null && echo ro-writable; touch /rro/sub/a 2>/dev/null || echo rro-readonly;"
        " mount -t tmpfs -o size=1m made-inside /both/back",
    )
    config["mounts"] += [
        {
            "destination": "/ro",
            "type": "bind",
            "source": str(shared_dir),
            "options": ["rbind", "ro", "rprivate"],
        },
        {
            "destination": "/rro",
            "type": "bind",
            "source": str(shared_dir),
            "options": ["rbind", "ro", "rro", "rprivate"],
        },
        {"destination": "/both", "type": "bind", "source": str(shared_dir), "options": ["rbind", "rshared"]},
    ]
    config["linux"]["rootfsPropagation"] = "rshared"
    config["process"]["capabilities"] = {k: ["CAP_SYS_ADMIN"] for k in ("bounding", "effective", "permitted")}
    assert output_of(runtime, config) == "ro-writable\nrro-readonly\n"
    assert (
        " made-inside "
        in Path("/proc/self/mountinfo").read_text().split(f" {shared_dir}/back ")[1].split("\n")[0]
    )


def test_overlay_mount(runtime: Runtime, tmp_path: Path) -> None:
    lower, upper, work = (tmp_path / n for n in ("lower", "upper", "work"))
    for d in (lower, upper, work):
        d.mkdir()
    (lower / "base").write_text("lower\n")
    config = sh(runtime, "cat /ov/base; echo top > /ov/top")
    options = [f"lowerdir={lower}", f"upperdir={upper}", f"workdir={work}"]
    config["mounts"].append(
        {"destination": "/ov", "type": "overlay", "source": "overlay", "options": options}
    )
    assert output_of(runtime, config) == "lower\n"
    assert (upper / "top").read_text() == "top\n"


def test_readonly_root_masked_and_readonly_paths(runtime: Runtime) -> None:
    config = sh(
        runtime,
        "touch /newfile 2>/dev/null && echo rootrw || echo rootro;"
        " cat /proc/kcore | wc -c; ls /sys/firmware | wc -l;"
        " echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sysrw || echo sysro",
    )
    assert output_of(runtime, config).split() == ["rootro", "0", "0", "sysro"]


def test_default_and_configured_devices(runtime: Runtime) -> None:
    config = sh(runtime, "ls -l /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/fuse;"
                         " readlink /dev/ptmx; readlink /dev/fd; head -c 4 /dev/zero | wc -c")  # fmt: skip
    config["linux"]["devices"] = [{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229,
                                   "fileMode": 0o600, "uid": 0, "gid": 0}]  # fmt: skip
    config["linux"]["resources"]["devices"].append({"allow": True, "type": "c", "major": 10, "minor": 229,
                                                    "access": "rwm"})  # fmt: skip
    out = output_of(runtime, config).splitlines()
    assert out[0].startswith("crw-rw-rw-") and out[0].endswith("/dev/full")
    fuse = next(line for line in out if line.endswith("/dev/fuse"))
    assert fuse.startswith("crw-------") and "10, 229" in fuse
    assert out[-3:] == ["pts/ptmx", "/proc/self/fd", "4"]


def test_capabilities_user_groups_umask_and_nnp(runtime: Runtime) -> None:
    config = sh(runtime, "grep -E '^(Cap|NoNewPrivs)' /proc/self/status; id; umask; echo $HOME")
    config["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [2000], "umask": 0o027}
    sets = ("bounding", "effective", "permitted", "inheritable", "ambient")
    config["process"]["capabilities"] = {k: ["CAP_KILL", "CAP_NET_BIND_SERVICE"] for k in sets}
    config["process"]["noNewPrivileges"] = True
    status = dict(line.split(":\t") for line in output_of(runtime, config).splitlines()[:6])
    want = f"{(1 << 5) | (1 << 10):016x}"
    assert {k: status[k] for k in ("CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh")} == dict.fromkeys(
        ("CapPrm", "CapEff", "CapBnd", "CapAmb", "CapInh"), want
    )
    assert status["NoNewPrivs"] == "1"
    rest = output_of(runtime, config).splitlines()[6:]
    assert rest[0] == "uid=1000(berth) gid=1000(berth) groups=2000(extra)"
    assert rest[1:] == ["0027", "/home/berth"]


def test_root_without_capabilities_config_keeps_defaults(runtime: Runtime) -> None:
    config = sh(runtime, "grep CapBnd /proc/self/status")
    assert output_of(runtime, config).split()[1] == f"{(1 << 5) | (1 << 10) | (1 << 29):016x}"


def test_rlimits_and_oom_score_adj(runtime: Runtime) -> None:
    config = sh(runtime, "ulimit -n; ulimit -Hn; cat /proc/self/oom_score_adj")
    config["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 256, "hard": 512}]
    config["process"]["oomScoreAdj"] = 123
    assert output_of(runtime, config).split() == ["256", "512", "123"]


def test_sysctl_and_env(runtime: Runtime) -> None:
    config = sh(runtime, "cat /proc/sys/net/ipv4/ip_forward; echo $GREETING")
    config["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1"}
    config["process"]["env"].append("GREETING=hi there")
    assert output_of(runtime, config).splitlines() == ["1", "hi there"]


def test_no_pivot(runtime: Runtime) -> None:
    config = sh(runtime, "ls /bin/busybox")
    done = runtime("run", "--no-pivot", "--bundle", str(runtime.bundle(config)), "np", check=False)
    assert done.returncode == 0 and done.stdout == "/bin/busybox\n"


def test_preserve_fds(runtime: Runtime, tmp_path: Path) -> None:
    config = sh(runtime, "echo through-fd3 >&3; ls /proc/self/fd")
    target = tmp_path / "fd3"
    bundle = str(runtime.bundle(config))
    # A shell opens fd 3 for the runtime (pytest's own fd 3 must stay untouched).
    done = subprocess.run(
        ["sh", "-c", 'exec 3>"$0"; exec "$@"', str(target), RUNTIME, "--root", str(runtime.root), "run",
         "--preserve-fds", "1", "--bundle", bundle, "pf"],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    assert target.read_text() == "through-fd3\n"
    assert sorted(int(fd) for fd in done.stdout.split()) == [0, 1, 2, 3, 4]  # 4: ls's own directory fd


def test_time_namespace_offsets(runtime: Runtime) -> None:
    config = sh(runtime, "cut -d. -f1 /proc/uptime")
    config["linux"]["namespaces"].append({"type": "time"})
    config["linux"]["timeOffsets"] = {"boottime": {"secs": 10_000_000, "nanosecs": 0}}
    assert int(output_of(runtime, config)) >= 10_000_000


def test_personality_linux32(runtime: Runtime) -> None:
    config = sh(runtime, "uname -m")
    config["linux"]["personality"] = {"domain": "LINUX32"}
    assert output_of(runtime, config).strip() in ("i686", "i386")


def test_no_signal_is_ignored_in_the_container(runtime: Runtime) -> None:
    # The runtime is Python, which ignores SIGPIPE and SIGXFSZ; the container must not inherit that.
    config = base_config(runtime.rootfs, ["grep", "SigIgn", "/proc/self/status"])
    assert output_of(runtime, config).split() == ["SigIgn:", "0000000000000000"]
    runtime.create(base_config(runtime.rootfs, ["sleep", "60"]), "ex")
    runtime("start", "ex")
    assert runtime("exec", "ex", "grep", "SigIgn", "/proc/self/status").stdout.split()[1] == "0" * 16


@pytest.mark.skipif(
    Path("/sys/fs/selinux/enforce").exists() or Path("/sys/module/apparmor/parameters/enabled").exists(),
    reason="this host has an LSM that could apply the labels",
)
@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("process", "apparmorProfile", "acme"),
        ("process", "selinuxLabel", "system_u:system_r:svirt_lxc_net_t:s0"),
        ("linux", "mountLabel", "system_u:object_r:svirt_sandbox_file_t:s0"),
    ],
)
def test_labels_without_the_lsm_on_the_host_are_refused(
    runtime: Runtime, section: str, key: str, value: str
) -> None:
    config = sh(runtime, "true")
    config[section][key] = value
    done = runtime.run(config)
    assert done.returncode != 0 and f"{section}.{key}" in done.stderr and "not enabled" in done.stderr
    assert len(done.stderr.splitlines()) == 1
    assert not runtime.root.exists() or not list(runtime.root.iterdir())
