"""ListMetricDescriptors and ListPodSandboxMetrics: cAdvisor's container metrics, read from the
containers' cgroups, /proc and their writable layers.

Every metric has cAdvisor's labels ``container``, ``id``, ``image``, ``name`` (the CRI name, the
container id, the image, the engine name), and some add their own (``device``, ``interface``...).
The CRI carries values as integers (api.proto Metric.value is a UInt64Value): times named
``..._seconds...`` are given in nanoseconds, as CRI-O gives them, and the kubelet scales them.
Network counters are the pod's (its containers share the infra's network namespace), reported on
the sandbox.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

from berth.cri.containers import cri_of
from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services, cri_record
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, ContainerRecord, PodRecord

#: cAdvisor's labels of every container metric.
BASE_LABELS = ("container", "id", "image", "name")
_COUNTER = "COUNTER"
_GAUGE = "GAUGE"  # api.proto MetricType
_USER_HZ = os.sysconf("SC_CLK_TCK")


class Family(NamedTuple):
    """One metric: its name, help, its own labels after ``BASE_LABELS``, counter or gauge."""

    name: str
    help: str
    labels: tuple[str, ...] = ()
    kind: str = _GAUGE


_NET = ("interface",)
_FS = ("device",)
FAMILIES = (
    Family(
        "container_blkio_device_usage_total",
        "Blkio device bytes usage",
        ("device", "major", "minor", "operation"),
        _COUNTER,
    ),
    Family(
        "container_cpu_cfs_periods_total", "Number of elapsed enforcement period intervals.", (), _COUNTER
    ),
    Family(
        "container_cpu_cfs_throttled_periods_total", "Number of throttled period intervals.", (), _COUNTER
    ),
    Family(
        "container_cpu_cfs_throttled_seconds_total",
        "Total time duration the container has been throttled (ns).",
        (),
        _COUNTER,
    ),
    Family("container_cpu_system_seconds_total", "Cumulative system cpu time consumed (ns).", (), _COUNTER),
    Family("container_cpu_usage_seconds_total", "Cumulative cpu time consumed (ns).", (), _COUNTER),
    Family("container_cpu_user_seconds_total", "Cumulative user cpu time consumed (ns).", (), _COUNTER),
    Family("container_file_descriptors", "Number of open file descriptors for the container."),
    Family("container_fs_inodes_free", "Number of available Inodes", _FS),
    Family("container_fs_inodes_total", "Number of Inodes", _FS),
    Family(
        "container_fs_limit_bytes",
        "Number of bytes that can be consumed by the container on this filesystem.",
        _FS,
    ),
    Family("container_fs_reads_bytes_total", "Cumulative count of bytes read", _FS, _COUNTER),
    Family("container_fs_reads_total", "Cumulative count of reads completed", _FS, _COUNTER),
    Family(
        "container_fs_usage_bytes",
        "Number of bytes that are consumed by the container on this filesystem.",
        _FS,
    ),
    Family("container_fs_writes_bytes_total", "Cumulative count of bytes written", _FS, _COUNTER),
    Family("container_fs_writes_total", "Cumulative count of writes completed", _FS, _COUNTER),
    Family("container_last_seen", "Last time a container was seen by the exporter (s)"),
    Family("container_memory_cache", "Number of bytes of page cache memory."),
    Family("container_memory_failcnt", "Number of memory usage hits limits", (), _COUNTER),
    Family(
        "container_memory_failures_total",
        "Cumulative count of memory allocation failures.",
        ("failure_type", "scope"),
        _COUNTER,
    ),
    Family("container_memory_kernel_usage", "Size of kernel memory allocated in bytes."),
    Family("container_memory_mapped_file", "Size of memory mapped files in bytes."),
    Family("container_memory_max_usage_bytes", "Maximum memory usage recorded in bytes"),
    Family("container_memory_rss", "Size of RSS in bytes."),
    Family("container_memory_swap", "Container swap usage in bytes."),
    Family(
        "container_memory_usage_bytes",
        "Current memory usage in bytes, including all memory regardless of when it was accessed",
    ),
    Family("container_memory_working_set_bytes", "Current working set in bytes."),
    Family("container_network_receive_bytes_total", "Cumulative count of bytes received", _NET, _COUNTER),
    Family(
        "container_network_receive_errors_total",
        "Cumulative count of errors encountered while receiving",
        _NET,
        _COUNTER,
    ),
    Family(
        "container_network_receive_packets_dropped_total",
        "Cumulative count of packets dropped while receiving",
        _NET,
        _COUNTER,
    ),
    Family("container_network_receive_packets_total", "Cumulative count of packets received", _NET, _COUNTER),
    Family("container_network_transmit_bytes_total", "Cumulative count of bytes transmitted", _NET, _COUNTER),
    Family(
        "container_network_transmit_errors_total",
        "Cumulative count of errors encountered while transmitting",
        _NET,
        _COUNTER,
    ),
    Family(
        "container_network_transmit_packets_dropped_total",
        "Cumulative count of packets dropped while transmitting",
        _NET,
        _COUNTER,
    ),
    Family(
        "container_network_transmit_packets_total", "Cumulative count of packets transmitted", _NET, _COUNTER
    ),
    Family(
        "container_oom_events_total", "Count of out of memory events observed for the container", (), _COUNTER
    ),
    Family("container_processes", "Number of processes running inside the container."),
    Family("container_sockets", "Number of open sockets for the container."),
    Family("container_spec_cpu_period", "CPU period of the container."),
    Family("container_spec_cpu_quota", "CPU quota of the container."),
    Family("container_spec_cpu_shares", "CPU share of the container."),
    Family("container_spec_memory_limit_bytes", "Memory limit for the container."),
    Family("container_spec_memory_reservation_limit_bytes", "Memory reservation limit for the container."),
    Family("container_spec_memory_swap_limit_bytes", "Memory swap limit for the container."),
    Family("container_start_time_seconds", "Start time of the container since unix epoch (s)."),
    Family("container_threads", "Number of threads running inside the container"),
    Family(
        "container_threads_max",
        "Maximum number of threads allowed inside the container, infinity if value is zero",
    ),
)
_KINDS = {f.name: f.kind for f in FAMILIES}
#: cgroup v1 "unlimited" is a page-aligned number near 2**63; v2 writes "max".
_UNLIMITED = 1 << 60

_DEV_COLUMNS = (("bytes", 0), ("packets", 1), ("errors", 2), ("packets_dropped", 3))

#: A sample: metric name, its own label values, its value.
Sample = tuple[str, tuple[str, ...], int]


def list_metric_descriptors(services: Services, request: Any) -> Any:
    """Every metric ListPodSandboxMetrics gives, with its labels."""
    return pb.ListMetricDescriptorsResponse(
        descriptors=[
            pb.MetricDescriptor(name=f.name, help=f.help, label_keys=[*BASE_LABELS, *f.labels])
            for f in FAMILIES
        ]
    )


def list_pod_sandbox_metrics(services: Services, request: Any) -> Any:
    """The metrics of every ready sandbox's running containers, and its network's."""
    from berth.engine.containers.state import refresh

    replies = []
    with services.engine() as engine:
        members: dict[str, list[ContainerRecord]] = {}
        for record in engine.db.containers():
            if record.pod:
                members.setdefault(record.pod, []).append(record)
        for pod in engine.db.pods():
            if cri_record(pod.annotations) is None:
                continue
            running = [r for r in (refresh(engine, m) for m in members.get(pod.id, [])) if r.state in ACTIVE]
            infra = next((r for r in running if r.id == pod.infra_id), None)
            if infra is None:
                continue
            replies.append(_pod_metrics(engine, pod, infra, running))
    return pb.ListPodSandboxMetricsResponse(pod_metrics=replies)


def _pod_metrics(
    engine: Engine, pod: PodRecord, infra: ContainerRecord, running: list[ContainerRecord]
) -> Any:
    now = time.time_ns()
    base = ("POD", pod.id, infra.image_id, pod.name)
    containers = []
    for record in running:
        cri = cri_of(record)
        if cri is None:
            continue
        labels = (cri["metadata"]["name"], record.id, record.image_id, record.name)
        samples = container_samples(engine, record)
        containers.append(pb.ContainerMetrics(container_id=record.id, metrics=_metrics(samples, labels, now)))
    network = _network_samples(infra.pid)
    return pb.PodSandboxMetrics(
        pod_sandbox_id=pod.id, metrics=_metrics(network, base, now), container_metrics=containers
    )


def _metrics(samples: Iterator[Sample] | list[Sample], base: tuple[str, ...], now: int) -> list[Any]:
    return [
        pb.Metric(
            name=name,
            timestamp=now,
            metric_type=_KINDS[name],
            label_values=[*base, *own],
            value=pb.UInt64Value(value=max(value, 0)),
        )
        for name, own, value in samples
    ]


class _Cgroup:
    """A container's cgroup files, by controller (cgroup v1) or in its unified directory (v2)."""

    def __init__(self, engine: Engine, record: ContainerRecord) -> None:
        from berth.engine.containers.observe import cgroup_dir

        self._engine, self._record, self._cgroup_dir = engine, record, cgroup_dir

    def path(self, controller: str) -> Path:
        """The directory of ``controller``."""
        return self._cgroup_dir(self._engine, self._record, controller)

    def text(self, controller: str, name: str) -> str:
        """The file's content ("" if it cannot be read)."""
        return _read(self.path(controller) / name)

    def stat(self, controller: str, name: str) -> dict[str, int]:
        """A file of ``key value`` lines (memory.stat, cpu.stat) as a dict."""
        values = {}
        for line in self.text(controller, name).splitlines():
            key, _, value = line.partition(" ")
            if value.strip().lstrip("-").isdigit():
                values[key] = int(value)
        return values

    def number(self, controller: str, *names: str) -> int:
        """The first of the files ``names`` that holds a number (``max``: unlimited)."""
        for name in names:
            text = self.text(controller, name)
            if text == "max":
                return _UNLIMITED
            if text.lstrip("-").isdigit():
                return int(text)
        return 0


def container_samples(engine: Engine, record: ContainerRecord) -> list[Sample]:
    """Every metric of a running container but the network's."""
    cgroup = _Cgroup(engine, record)
    samples: list[Sample] = []
    samples += _cpu_samples(cgroup)
    samples += _memory_samples(cgroup)
    samples += _blkio_samples(cgroup.text("blkio", "blkio.throttle.io_service_bytes"))
    samples += _process_samples(engine, record, cgroup)
    samples += _fs_samples(engine, record)
    samples.append(("container_last_seen", (), int(time.time())))
    samples.append(("container_start_time_seconds", (), int(record.started_at or 0)))
    return samples


def _cpu_samples(cgroup: _Cgroup) -> list[Sample]:
    cpu = cgroup.stat("cpu", "cpu.stat")
    acct = cgroup.stat("cpuacct", "cpuacct.stat")
    # cgroup v1: cpuacct.usage (ns), cpuacct.stat (USER_HZ ticks); v2: cpu.stat's *_usec.
    if acct:
        usage = cgroup.number("cpuacct", "cpuacct.usage")
        user, system = (acct.get(k, 0) * 1_000_000_000 // _USER_HZ for k in ("user", "system"))
    else:
        usage, user, system = (cpu.get(k, 0) * 1000 for k in ("usage_usec", "user_usec", "system_usec"))
    throttled = cpu.get("throttled_time", cpu.get("throttled_usec", 0) * 1000)
    quota, period = _cpu_limits(cgroup)
    samples: list[Sample] = [
        ("container_cpu_usage_seconds_total", (), usage),
        ("container_cpu_user_seconds_total", (), user),
        ("container_cpu_system_seconds_total", (), system),
        ("container_cpu_cfs_periods_total", (), cpu.get("nr_periods", 0)),
        ("container_cpu_cfs_throttled_periods_total", (), cpu.get("nr_throttled", 0)),
        ("container_cpu_cfs_throttled_seconds_total", (), throttled),
        ("container_spec_cpu_period", (), period),
        ("container_spec_cpu_shares", (), cgroup.number("cpu", "cpu.shares", "cpu.weight")),
    ]
    if quota > 0:
        samples.append(("container_spec_cpu_quota", (), quota))
    return samples


def _cpu_limits(cgroup: _Cgroup) -> tuple[int, int]:
    """(quota, period) in microseconds, quota -1 for none: v1 ``cpu.cfs_*``, v2 ``cpu.max``."""
    period = cgroup.number("cpu", "cpu.cfs_period_us")
    if period:
        return cgroup.number("cpu", "cpu.cfs_quota_us"), period
    quota, _, period_text = cgroup.text("cpu", "cpu.max").partition(" ")
    return (int(quota) if quota.isdigit() else -1), int(period_text or 100_000)


def _memory_samples(cgroup: _Cgroup) -> list[Sample]:
    memory = cgroup.stat("memory", "memory.stat")
    number = cgroup.number
    usage = number("memory", "memory.usage_in_bytes", "memory.current")
    inactive = memory.get("total_inactive_file", memory.get("inactive_file", 0))
    events = cgroup.stat("memory", "memory.events")
    oom = cgroup.stat("memory", "memory.oom_control").get("oom_kill", events.get("oom_kill", 0))
    return [
        ("container_memory_usage_bytes", (), usage),
        ("container_memory_working_set_bytes", (), max(usage - inactive, 0)),
        ("container_memory_cache", (), memory.get("total_cache", memory.get("file", 0))),
        ("container_memory_rss", (), memory.get("total_rss", memory.get("anon", 0))),
        ("container_memory_mapped_file", (), memory.get("total_mapped_file", memory.get("file_mapped", 0))),
        ("container_memory_swap", (), memory.get("total_swap", number("memory", "memory.swap.current"))),
        (
            "container_memory_kernel_usage",
            (),
            number("memory", "memory.kmem.usage_in_bytes") or memory.get("kernel", 0),
        ),
        (
            "container_memory_max_usage_bytes",
            (),
            number("memory", "memory.max_usage_in_bytes", "memory.peak"),
        ),
        ("container_memory_failcnt", (), number("memory", "memory.failcnt") or events.get("max", 0)),
        (
            "container_memory_failures_total",
            ("pgfault", "container"),
            memory.get("total_pgfault", memory.get("pgfault", 0)),
        ),
        (
            "container_memory_failures_total",
            ("pgmajfault", "container"),
            memory.get("total_pgmajfault", memory.get("pgmajfault", 0)),
        ),
        ("container_oom_events_total", (), oom),
        (
            "container_spec_memory_limit_bytes",
            (),
            _limit(number("memory", "memory.limit_in_bytes", "memory.max")),
        ),
        (
            "container_spec_memory_reservation_limit_bytes",
            (),
            _limit(number("memory", "memory.soft_limit_in_bytes", "memory.low")),
        ),
        (
            "container_spec_memory_swap_limit_bytes",
            (),
            _limit(number("memory", "memory.memsw.limit_in_bytes", "memory.swap.max")),
        ),
    ]


def _blkio_samples(text: str) -> list[Sample]:
    """Bytes per device and operation, from cgroup v1's ``blkio.throttle.io_service_bytes``."""
    samples: list[Sample] = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and ":" in parts[0]:
            major, minor = parts[0].split(":")
            samples.append(
                ("container_blkio_device_usage_total", (parts[0], major, minor, parts[1]), int(parts[2]))
            )
    return samples


def _process_samples(engine: Engine, record: ContainerRecord, cgroup: _Cgroup) -> list[Sample]:
    """Processes, threads, open files and sockets, from /proc of the processes in the cgroup."""
    from berth.engine.containers.observe import container_pids

    pids = container_pids(engine, record)
    threads = descriptors = sockets = 0
    for pid in pids:
        try:
            threads += len(os.listdir(f"/proc/{pid}/task"))
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # exited meanwhile
        descriptors += len(fds)
        for fd in fds:
            with contextlib.suppress(OSError):  # closed meanwhile
                sockets += os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")
    return [
        ("container_processes", (), len(pids)),
        ("container_threads", (), threads),
        ("container_threads_max", (), _limit(cgroup.number("pids", "pids.max"))),
        ("container_file_descriptors", (), descriptors),
        ("container_sockets", (), sockets),
    ]


def _fs_samples(engine: Engine, record: ContainerRecord) -> list[Sample]:
    """The writable layer's bytes, and the inodes and size of the filesystem that holds it."""
    from berth.engine.images.store import snapshotter
    from berth.errors import NotFound

    try:
        active = snapshotter(engine.config).active(record.id)
    except NotFound:
        return []
    layer = active.upper or active.rootfs
    fs = os.statvfs(layer)
    device = _device_of(layer)
    return [
        ("container_fs_usage_bytes", (device,), _tree_bytes(layer)),
        ("container_fs_limit_bytes", (device,), fs.f_blocks * fs.f_frsize),
        ("container_fs_inodes_total", (device,), fs.f_files),
        ("container_fs_inodes_free", (device,), fs.f_ffree),
    ]


def _network_samples(pid: int | None) -> list[Sample]:
    """The counters of every interface but ``lo`` in the network namespace of process ``pid``."""
    # /proc/net/dev's columns after the name: 8 of receiving, then 8 of transmitting.
    names = [(f"receive_{n}", i) for n, i in _DEV_COLUMNS] + [
        (f"transmit_{n}", i + 8) for n, i in _DEV_COLUMNS
    ]
    return [
        (f"container_network_{name}_total", (interface,), values[column])
        for interface, values in interface_counters(pid).items()
        for name, column in names
    ]


def interface_counters(pid: int | None) -> dict[str, list[int]]:
    """/proc/net/dev's 16 counters (8 of receiving, then 8 of transmitting) of every interface but
    ``lo`` in the network namespace of process ``pid``, by interface name."""
    try:
        lines = Path(f"/proc/{pid}/net/dev").read_text().splitlines()[2:] if pid else []
    except OSError:
        lines = []
    counters = {}
    for line in lines:
        interface, _, text = line.partition(":")
        interface, values = interface.strip(), text.split()
        if interface != "lo" and len(values) >= 16:
            counters[interface] = [int(v) for v in values[:16]]
    return counters


def _tree_bytes(top: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(top):
        for name in files:
            with contextlib.suppress(OSError):  # removed meanwhile
                total += os.lstat(os.path.join(folder, name)).st_blocks * 512
    return total


def _device_of(path: Path) -> str:
    """The ``MAJOR:MINOR`` of the filesystem holding ``path``."""
    dev = os.stat(path).st_dev
    return f"{os.major(dev)}:{os.minor(dev)}"


def _limit(value: int) -> int:
    return 0 if value >= _UNLIMITED else value


def _read(path: Path, default: str = "") -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return default
