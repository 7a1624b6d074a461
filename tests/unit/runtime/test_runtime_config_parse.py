"""spec.runtime_config: config.json 1.0-1.3 parses into typed data; every error names its field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from berth.errors import InvalidArgument
from berth.runtime.verbs.spec import default_config
from berth.spec.runtime_config import (
    CAPABILITY_NAMES,
    NAMESPACE_TYPES,
    RLIMIT_TYPES,
    CPUAffinity,
    MemoryPolicy,
    parse_config,
    parse_cpu_list,
    parse_process,
)


def config(**changes: Any) -> dict[str, Any]:
    c = default_config()
    c.update(changes)
    return c


def test_runc_default_spec_parses() -> None:
    parsed = parse_config(default_config())
    assert parsed.oci_version == "1.0.2-dev"
    assert parsed.root.path == "rootfs" and parsed.root.readonly
    assert parsed.process is not None and parsed.process.args == ("sh",)
    assert parsed.process.capabilities is not None
    assert "CAP_KILL" in parsed.process.capabilities.bounding
    assert parsed.process.rlimits[0].type == "RLIMIT_NOFILE"
    assert [m.destination for m in parsed.mounts][:2] == ["/proc", "/dev"]
    assert parsed.linux.namespace("pid") is not None and parsed.linux.namespace("user") is None
    assert parsed.linux.resources["devices"] == [{"allow": False, "access": "rwm"}]


@pytest.mark.parametrize("version", ["1.0.0", "1.0.2-dev", "1.1.0-rc.1", "1.2.0", "1.3.0", "1.3.7+build"])
def test_supported_versions(version: str) -> None:
    assert parse_config(config(ociVersion=version)).oci_version == version


@pytest.mark.parametrize(
    ("version", "message"),
    [("2.0.0", "unsupported major version 2"), ("0.9.0", "major version 0"), ("1.4.0", "unsupported version"),
     ("1.0", "not a SemVer")],
)  # fmt: skip
def test_unsupported_versions(version: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_config(config(ociVersion=version))


def broken(path: list[Any], value: Any) -> dict[str, Any]:
    c = default_config()
    target: Any = c
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return c


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (["root"], KeyError, "root: required"),
        (["root", "path"], KeyError, "root.path: required"),
        (["ociVersion"], KeyError, "ociVersion: required"),
        (["mounts", 1, "destination"], KeyError, r"mounts\[1\].destination: required"),
        (["mounts", 1, "destination"], "/a/../b", r"mounts\[1\].destination: .* '\.\.'"),
        (["mounts", 1, "type"], KeyError, r"mounts\[1\].type: required unless"),
        (["mounts", 1, "options"], "ro", r"mounts\[1\].options: must be an array"),
        (["linux", "namespaces", 0, "type"], "bogus", r"linux.namespaces\[0\].type: unknown namespace type"),
        (["linux", "namespaces", 1], {"type": "pid"}, r"linux.namespaces\[1\]: duplicate"),
        (["process", "capabilities", "bounding", 0], "CAP_BOGUS",
         r"process.capabilities.bounding\[0\]: invalid capability name"),
        (["process", "rlimits", 0, "type"], "RLIMIT_BOGUS", r"process.rlimits\[0\].type: unknown rlimit"),
        (["process", "cwd"], "relative", "process.cwd: 'relative' must be an absolute path"),
        (["process", "args"], [], "process.args: required"),
        (["process", "env"], ["NOEQUALS"], r"process.env\[0\]: 'NOEQUALS' is not KEY=VALUE"),
        (["process", "user", "uid"], -1, "process.user.uid: must be between"),
        (["process", "terminal"], "yes", "process.terminal: must be a boolean"),
        (["linux", "rootfsPropagation"], "sideways", "linux.rootfsPropagation: unknown"),
        (["linux", "devices"], [{"type": "x", "path": "/dev/x"}], r"linux.devices\[0\].type: unknown device"),
        (["linux", "devices"], [{"type": "c", "path": "/dev/x"}], r"linux.devices\[0\].major: required"),
        (["linux", "uidMappings"], [{"containerID": 0, "hostID": 1000, "size": 1}], "need a user namespace"),
        (["hooks"], {"prestart": [{"path": "rel"}]}, r"hooks.prestart\[0\].path: 'rel' must be an absolute"),
        (["hooks"], {"poststop": [{"path": "/x", "timeout": 0}]}, r"hooks.poststop\[0\].timeout: must be"),
        (["linux", "seccomp"], {"architectures": []}, "linux.seccomp.defaultAction: required"),
        (["linux", "timeOffsets"], {"realtime": {"secs": 1}}, "linux.timeOffsets.realtime: unknown clock"),
        (["process", "scheduler"], {"nice": 1}, "process.scheduler.policy: required"),
        (["process", "scheduler"], {"policy": "SCHED_FAST"}, "process.scheduler.policy: unknown scheduling"),
        (["process", "scheduler"], {"policy": "SCHED_OTHER", "nice": 20}, "scheduler.nice: 20 is not"),
        (["process", "scheduler"], {"policy": "SCHED_RR", "priority": 100}, "scheduler.priority: 100"),
        (["process", "scheduler"], {"policy": "SCHED_OTHER", "flags": ["SCHED_FLAG_X"]},
         "process.scheduler.flags: unknown scheduling flag"),
        (["process", "scheduler"], {"policy": "SCHED_DEADLINE", "runtime": -1}, "scheduler.runtime: must"),
        (["process", "ioPriority"], {"class": "IOPRIO_CLASS_BE"}, "process.ioPriority.priority: required"),
        (["process", "ioPriority"], {"class": "IOPRIO_CLASS_X", "priority": 0}, "ioPriority.class: unknown"),
        (["process", "ioPriority"], {"class": "IOPRIO_CLASS_BE", "priority": 8}, "ioPriority.priority: 8"),
        (["linux", "memoryPolicy"], {"nodes": "0"}, "linux.memoryPolicy.mode: required"),
        (["linux", "memoryPolicy"], {"mode": "MPOL_RANDOM"}, "memoryPolicy.mode: unknown memory policy"),
        (["linux", "memoryPolicy"], {"mode": "MPOL_BIND", "nodes": "x"}, "memoryPolicy.nodes: 'x' is not"),
        (["linux", "memoryPolicy"], {"mode": "MPOL_BIND", "flags": ["MPOL_F_X"]}, "flags: unknown memory"),
        (["process", "execCPUAffinity"], {"initial": "0-"}, "process.execCPUAffinity.initial: '0-' is not"),
        (["process", "execCPUAffinity"], {"final": "3-1"}, "process.execCPUAffinity.final: '3-1' is not"),
    ],
)  # fmt: skip
def test_errors_name_the_field(path: list[Any], value: Any, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        parse_config(broken(path, value))


def test_full_linux_section() -> None:
    c = default_config()
    c["linux"].update(
        namespaces=[{"type": t} for t in NAMESPACE_TYPES] + [],
        uidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
        gidMappings=[{"containerID": 0, "hostID": 100000, "size": 65536}],
        timeOffsets={"monotonic": {"secs": 10, "nanosecs": 5}},
        devices=[{"type": "c", "path": "/dev/fuse", "major": 10, "minor": 229, "fileMode": 0o666}],
        sysctl={"net.ipv4.ip_forward": "1"},
        cgroupsPath="/berth/test",
        rootfsPropagation="rslave",
        seccomp={"defaultAction": "SCMP_ACT_ALLOW"},
        personality={"domain": "LINUX32"},
    )
    lx = parse_config(c).linux
    assert lx.uid_mappings[0].host_id == 100000 and lx.gid_mappings[0].size == 65536
    assert lx.time_offsets["monotonic"].secs == 10
    assert lx.devices[0].file_mode == 0o666 and lx.devices[0].major == 10
    assert lx.cgroups_path == "/berth/test" and lx.sysctl == {"net.ipv4.ip_forward": "1"}
    assert lx.personality is not None and lx.personality.domain == "LINUX32"
    assert lx.seccomp == {"defaultAction": "SCMP_ACT_ALLOW"}


def test_hooks_and_process_user() -> None:
    c = default_config()
    c["hooks"] = {
        "createRuntime": [{"path": "/bin/hook", "args": ["hook", "a"], "env": ["X=1"], "timeout": 5}]
    }
    c["process"]["user"] = {"uid": 1000, "gid": 1000, "umask": 0o077, "additionalGids": [2000]}
    parsed = parse_config(c)
    hook = parsed.hooks["createRuntime"][0]
    assert (hook.path, hook.args, hook.env, hook.timeout) == ("/bin/hook", ("hook", "a"), ("X=1",), 5)
    assert parsed.process is not None
    assert parsed.process.user.additional_gids == (2000,) and parsed.process.user.umask == 0o077


def test_scheduler_io_priority_and_cpu_affinity() -> None:
    c = default_config()
    c["process"]["scheduler"] = {"policy": "SCHED_DEADLINE", "flags": ["SCHED_FLAG_RESET_ON_FORK"],
                                 "runtime": 10**6, "deadline": 2 * 10**6, "period": 3 * 10**6}  # fmt: skip
    c["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_IDLE", "priority": 7}
    c["process"]["execCPUAffinity"] = {"initial": "0-1, 3", "final": "2"}
    p = parse_config(c).process
    assert p is not None and p.scheduler is not None and p.io_priority is not None
    assert (p.scheduler.policy, p.scheduler.flags, p.scheduler.nice) == (
        "SCHED_DEADLINE",
        ("SCHED_FLAG_RESET_ON_FORK",),
        0,
    )
    assert (p.scheduler.runtime, p.scheduler.deadline, p.scheduler.period) == (10**6, 2 * 10**6, 3 * 10**6)
    assert (p.io_priority.io_class, p.io_priority.priority) == ("IOPRIO_CLASS_IDLE", 7)
    assert p.exec_cpu_affinity == CPUAffinity(initial="0-1, 3", final="2")
    assert parse_cpu_list("0-1, 3", "x") == {0, 1, 3}
    c["linux"]["memoryPolicy"] = {"mode": "MPOL_INTERLEAVE", "nodes": "0-1", "flags": ["MPOL_F_STATIC_NODES"]}
    assert parse_config(c).linux.memory_policy == MemoryPolicy(
        "MPOL_INTERLEAVE", "0-1", ("MPOL_F_STATIC_NODES",)
    )


@pytest.mark.parametrize("text", ["", "1,", "a", "1-", "-1", "3-1", "\u00b2", "1-\u0663"])
def test_bad_cpu_lists(text: str) -> None:
    with pytest.raises(InvalidArgument, match="is not a list like"):
        parse_cpu_list(text, "process.execCPUAffinity.final")


def test_parse_process_for_exec() -> None:
    p = parse_process(
        {"args": ["ls"], "cwd": "/", "terminal": True, "consoleSize": {"height": 24, "width": 80}}
    )
    assert p.terminal and p.console_size is not None and p.console_size.width == 80


names = st.text(min_size=1, max_size=20)


@given(
    args=st.lists(st.text(min_size=1), min_size=1, max_size=4),
    env=st.dictionaries(st.text(alphabet="ABCXYZ_", min_size=1), st.text(), max_size=4),
    caps=st.lists(st.sampled_from(CAPABILITY_NAMES), max_size=6),
    rlimits=st.lists(
        st.tuples(st.sampled_from(RLIMIT_TYPES), st.integers(0, 2**63), st.integers(0, 2**63)), max_size=3
    ),
    namespaces=st.sets(st.sampled_from(NAMESPACE_TYPES)),
    readonly=st.booleans(),
)
def test_valid_configs_round_trip(
    args: list[str],
    env: dict[str, str],
    caps: list[str],
    rlimits: list[tuple[str, int, int]],
    namespaces: set[str],
    readonly: bool,
) -> None:
    c = default_config()
    c["process"]["args"] = args
    c["process"]["env"] = [f"{k}={v}" for k, v in env.items()]
    c["process"]["capabilities"] = {"bounding": caps, "ambient": caps}
    c["process"]["rlimits"] = [{"type": t, "soft": s, "hard": h} for t, s, h in rlimits]
    c["linux"]["namespaces"] = [{"type": t} for t in sorted(namespaces)]
    if "user" not in namespaces:
        c["linux"].pop("uidMappings", None)
    c["root"]["readonly"] = readonly
    parsed = parse_config(c)
    assert parsed.process is not None
    assert parsed.process.args == tuple(args)
    assert dict(e.split("=", 1) for e in parsed.process.env) == env
    assert parsed.process.capabilities is not None and parsed.process.capabilities.bounding == tuple(caps)
    assert [(r.type, r.soft, r.hard) for r in parsed.process.rlimits] == rlimits
    assert {ns.type for ns in parsed.linux.namespaces} == namespaces
    assert parsed.root.readonly is readonly


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


@given(
    json_values, st.sampled_from(["root", "process", "mounts", "linux", "hooks", "annotations", "hostname"])
)
def test_arbitrary_json_in_any_section_never_crashes(value: Any, section: str) -> None:
    c = copy.deepcopy(default_config())
    c[section] = value
    try:
        parse_config(c)
    except InvalidArgument as err:
        assert str(err).split(":")[0].split(".")[0].split("[")[0] in (section, "ociVersion", "config")


def test_rootless_default_spec_parses_with_a_user_namespace() -> None:
    parsed = parse_config(default_config(rootless=True))
    assert parsed.linux.namespace("user") is not None and parsed.linux.namespace("network") is None
    assert parsed.linux.uid_mappings[0].size == 1 and not parsed.linux.resources
    assert all(m.type != "cgroup" for m in parsed.mounts)
