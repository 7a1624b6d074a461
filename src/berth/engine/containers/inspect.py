"""What ``inspect`` and ``ps`` show of a container, in podman's field names."""

from __future__ import annotations

import os
import time
from typing import Any

from berth.engine.containers.logs import rfc3339_nano
from berth.engine.containers.state import restart_pending
from berth.engine.metadata import CONFIGURED, CREATED, EXITED, PAUSED, RUNNING, ContainerRecord, shown_state
from berth.engine.options import CreateOptions, RestartPolicy
from berth.engine.units import human_size, parse_size


def stamp(t: float | None) -> str:
    """A time as podman prints it (RFC 3339 with nanoseconds; the zero time for none)."""
    return rfc3339_nano(int(t * 1e9)) if t else "0001-01-01T00:00:00Z"


def ago(seconds: float) -> str:
    """A duration as podman words it: ``3 minutes``, ``1 second``."""
    seconds = max(0, int(seconds))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def status_text(record: ContainerRecord, now: float | None = None, health: str | None = None) -> str:
    """podman ps's STATUS column: ``Up 3 minutes``, ``Up 5 seconds (healthy)``, ``Exited (0) 2
    seconds ago``, ``Created``."""
    now = now or time.time()
    if record.state in (RUNNING, PAUSED):
        suffix = " (Paused)" if record.state == PAUSED else f" ({health})" if health else ""
        return f"Up {ago(now - (record.started_at or now))}{suffix}"
    if record.state == EXITED:
        return f"Exited ({record.exit_code}) {ago(now - (record.finished_at or now))} ago"
    return "Created"


def _ports_text(opts: CreateOptions) -> list[dict[str, Any]]:
    from berth.engine.options import parse_publish

    return [
        {
            "host_ip": m.host_ip,
            "host_port": m.host_port,
            "container_port": m.container_port,
            "protocol": m.protocol,
        }
        for m in (parse_publish(p) for p in opts.publish)
    ]


def port_bindings(opts: CreateOptions) -> dict[str, list[dict[str, str]]]:
    """The published ports as podman's and Docker's inspect give them:
    ``{"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}``."""
    from berth.engine.options import parse_publish

    bindings: dict[str, list[dict[str, str]]] = {}
    for mapping in (parse_publish(p) for p in opts.publish):
        key = f"{mapping.container_port}/{mapping.protocol}"
        bindings.setdefault(key, []).append({"HostIp": mapping.host_ip, "HostPort": str(mapping.host_port)})
    return bindings


def _mounts(record: ContainerRecord, opts: CreateOptions) -> list[dict[str, Any]]:
    """podman's ``Mounts``: a volume's (named or anonymous) as ``Type: volume`` with its ``Name``,
    host paths as ``bind``; the files the engine binds into ``/etc`` left out, as podman does."""
    from berth.engine.options import parse_volume

    volumes = {spec.name for spec in map(parse_volume, opts.volumes) if spec.name}
    volumes.update(record.config.get("anonymous_volumes", []))
    mounts = []
    for m in record.mounts:
        if m["destination"].startswith("/etc/"):
            continue
        source = m["source"]
        name = os.path.basename(os.path.dirname(source)) if source.endswith("/_data") else ""
        mounts.append(
            {
                "Type": "volume" if name in volumes else "bind",
                **({"Name": name} if name in volumes else {}),
                "Source": source,
                "Destination": m["destination"],
                "RW": "ro" not in m["options"],
            }
        )
    return mounts


def reported_binds(opts: CreateOptions) -> list[str]:
    """``HostConfig.Binds``: the binds as given; a named volume with the options it is mounted
    with, as podman reports it (``data:/v:rprivate,nosuid,nodev,rbind``)."""
    from berth.engine.options import parse_volume
    from berth.engine.volumes.mount_options import processed_options

    binds = []
    for text in opts.volumes:
        if ":" not in text:
            continue  # an anonymous volume
        if text.startswith("/"):
            binds.append(text)  # not parsed: the source may be gone by now
            continue
        spec = parse_volume(text)
        binds.append(f"{spec.name}:{spec.destination}:{','.join(processed_options(spec))}")
    return binds


def _healthcheck(record: ContainerRecord) -> dict[str, Any] | None:
    """podman's ``Config.Healthcheck`` (durations in nanoseconds); None without a health check."""
    from berth.engine.containers.health import health_settings

    settings = health_settings(record)
    if settings is None:
        return None
    return {
        "Test": settings.test,
        "Interval": int(settings.interval * 1e9),
        "Timeout": int(settings.timeout * 1e9),
        "StartPeriod": int(settings.start_period * 1e9),
        "Retries": settings.retries,
    }


def ps_row(record: ContainerRecord, health: str | None = None, pod_name: str = "") -> dict[str, Any]:
    """One ``ps --format json`` entry (podman's keys); ``health``: its health check's status,
    ``pod_name``: its pod's name."""
    opts = CreateOptions.from_json(record.config["options"])
    return {
        "Id": record.id,
        "Names": [record.name],
        "Image": record.image,
        "ImageID": record.image_id.removeprefix("sha256:"),
        "Command": record.config.get("args", []),
        "Created": int(record.created_at),
        "CreatedAt": stamp(record.created_at),
        "State": record.state,
        "Status": status_text(record, health=health),
        "Exited": record.state == EXITED,
        "ExitCode": record.exit_code or 0,
        "Pid": record.pid,
        "Ports": _ports_text(opts),
        "Networks": list(record.networks) or [record.config.get("network", "")],
        "Pod": record.pod,
        "PodName": pod_name,
    }


def inspect_container(record: ContainerRecord, health: dict[str, Any] | None = None) -> dict[str, Any]:
    """``inspect``'s document for one container (podman's layout, the fields Berth knows)."""
    opts = CreateOptions.from_json(record.config["options"])
    policy = RestartPolicy.parse(opts.restart)
    args = record.config.get("args", [])
    networks = {}
    for name, att in record.networks.items():
        result = att.get("result", {})
        ips = result.get("ips", [])
        # CNI 1.0 results carry no version per address (SPEC.md#ips): an IPv6 one has colons.
        v4: dict[str, str] = next((ip for ip in ips if ":" not in ip.get("address", "")), {})
        v6: dict[str, str] = next((ip for ip in ips if ":" in ip.get("address", "")), {})
        macs = [i.get("mac", "") for i in result.get("interfaces", []) if i.get("sandbox")]
        networks[name] = {
            "IPAddress": v4.get("address", "").split("/")[0],
            "IPPrefixLen": int(v4.get("address", "/0").split("/")[1]),
            "Gateway": v4.get("gateway", ""),
            "GlobalIPv6Address": v6.get("address", "").split("/")[0],
            "GlobalIPv6PrefixLen": int(v6.get("address", "/0").split("/")[1]),
            "IPv6Gateway": v6.get("gateway", ""),
            "MacAddress": macs[0] if macs else "",
        }
    return {
        "Id": record.id,
        "Created": stamp(record.created_at),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "Status": shown_state(record.state),
            "Running": record.state == RUNNING,
            "Paused": record.state == PAUSED,
            "Restarting": restart_pending(record),
            **({"Health": health} if health is not None else {}),
            "OOMKilled": record.oom_killed,
            "Dead": False,
            "Pid": record.pid,
            "MonitorPid": record.monitor_pid,
            "ExitCode": record.exit_code if record.exit_code is not None else 0,
            "Error": record.error,
            "StartedAt": stamp(record.started_at),
            "FinishedAt": stamp(record.finished_at),
        },
        # podman: Image is the image's ID, ImageName what the user gave, ImageDigest the manifest's.
        "Image": record.image_id.removeprefix("sha256:") or record.image,
        "ImageName": record.image,
        "ImageDigest": record.image_digest,
        "Rootfs": record.config.get("rootfs", ""),
        "Name": record.name,
        "OCIRuntime": record.runtime,
        "Mounts": _mounts(record, opts),
        "NetworkSettings": {"Networks": networks, "Ports": port_bindings(opts)},
        "Config": {
            "Hostname": record.config.get("hostname", ""),
            "Env": record.config.get("env", []),
            "Cmd": opts.command,
            "Entrypoint": opts.entrypoint,
            "WorkingDir": record.config.get("cwd", "/"),
            "User": opts.user,
            "Tty": opts.tty,
            "OpenStdin": opts.interactive,
            "StopSignal": record.config.get("stop_signal", "SIGTERM"),
            "StopTimeout": opts.stop_timeout,
            "Labels": opts.labels,
            "Annotations": opts.annotations,
            "Healthcheck": _healthcheck(record),
        },
        "RestartCount": record.restart_count,
        "HostConfig": {
            "RestartPolicy": {"Name": policy.name, "MaximumRetryCount": policy.max_retries},
            "LogConfig": {
                "Type": opts.log_driver,
                "Size": human_size(opts.log_size_max) if opts.log_size_max else "-1B",
            },
            "NetworkMode": record.config.get("network", ""),
            "AutoRemove": opts.remove,
            "ReadonlyRootfs": opts.read_only,
            "Privileged": opts.privileged,
            "CapAdd": opts.cap_add,
            "CapDrop": opts.cap_drop,
            "SecurityOpt": opts.security_opt,
            # podman's types, which are Docker's (engine API ContainerInspectResponse): bytes,
            # CPUs in billionths, tmpfs options by destination, published ports by port
            "Memory": parse_size(opts.memory) if opts.memory else 0,
            "NanoCpus": int(float(opts.cpus) * 1e9) if opts.cpus else 0,
            "PidsLimit": opts.pids_limit,
            "Binds": reported_binds(opts),
            "Tmpfs": dict(t.partition(":")[::2] for t in opts.tmpfs),
            "PortBindings": port_bindings(opts),
        },
        "IsActive": record.state in (CREATED, RUNNING, PAUSED),
        "IsConfigured": record.state == CONFIGURED,
    }
