"""System endpoints: ``/_ping``, ``/version``, ``/info`` (engine API v1.44, System)."""

from __future__ import annotations

import os
import platform
import time
from typing import Any

from aiohttp import web

from berth import __version__
from berth.dockerapi.app import Router, api_version, blocking, json_response
from berth.dockerapi.versions import MAX_VERSION, MIN_VERSION, format_version
from berth.engine.engine import Engine


def _ping_headers(request: web.Request) -> dict[str, str]:
    # The headers clients negotiate from (API-Version) and decide features by.
    return {
        "API-Version": format_version(MAX_VERSION),
        "Builder-Version": "1",
        "Docker-Experimental": "false",
        "OSType": "linux",
        "Cache-Control": "no-cache, no-store, must-revalidate",
        "Pragma": "no-cache",
    }


async def ping(request: web.Request) -> web.StreamResponse:
    """``GET /_ping``: ``OK``; ``HEAD /_ping``: the same headers, no body."""
    return web.Response(text="OK", headers=_ping_headers(request))


def version_document() -> dict[str, Any]:
    """``/version``'s body: Berth as the ``Engine`` component."""
    details = {
        "ApiVersion": format_version(MAX_VERSION),
        "MinAPIVersion": format_version(MIN_VERSION),
        "Arch": _arch(),
        "Os": "linux",
        "KernelVersion": platform.release(),
        "GitCommit": "",
        "GoVersion": f"python{platform.python_version()}",
        "BuildTime": "",
    }
    return {
        "Platform": {"Name": f"Berth {__version__}"},
        "Components": [{"Name": "Engine", "Version": __version__, "Details": details}],
        "Version": __version__,
        **details,
    }


async def version(request: web.Request) -> web.StreamResponse:
    """``GET /version``."""
    api_version(request)
    return json_response(version_document())


def _arch() -> str:
    # Go's architecture names, which Docker reports.
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(machine, machine)


def mem_total() -> int:
    """The host's memory in bytes."""
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def info_document(engine: Engine) -> dict[str, Any]:
    """``/info``'s body from the engine's own ``info`` (the fields Docker clients read)."""
    from berth.engine.system import info

    berth = info(engine)
    store = berth["store"]
    counts = store["containerStore"]
    images = _image_count(engine)
    paused = counts["number"] - counts["running"] - counts["stopped"]
    cgroup_version = berth["host"]["cgroupVersion"].removeprefix("v")
    return {
        "ID": _host_id(engine),
        "Containers": counts["number"],
        "ContainersRunning": counts["running"],
        "ContainersPaused": max(0, paused),
        "ContainersStopped": counts["stopped"],
        "Images": images,
        "Driver": "overlay",
        "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "none"],
            "Authorization": None,
            "Log": ["json-file"],
        },
        "MemoryLimit": True,
        "SwapLimit": cgroup_version == "2",
        "CpuCfsPeriod": True,
        "CpuCfsQuota": True,
        "CPUShares": True,
        "CPUSet": True,
        "PidsLimit": True,
        "IPv4Forwarding": True,
        "BridgeNfIptables": True,
        "BridgeNfIp6tables": True,
        "Debug": False,
        "OomKillDisable": False,
        "NFd": len(os.listdir("/proc/self/fd")),
        "NGoroutines": 0,
        "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "LoggingDriver": "json-file",  # what containers' LogConfig says (container_view)
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": cgroup_version,
        "NEventsListener": 0,
        "KernelVersion": berth["host"]["kernel"],
        "OperatingSystem": _os_name(),
        "OSVersion": _os_release().get("VERSION_ID", ""),
        "OSType": "linux",
        "Architecture": platform.machine(),
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": _registry_config(),
        "NCPU": os.cpu_count() or 1,
        "MemTotal": mem_total(),
        "DockerRootDir": store["graphRoot"],
        "Name": berth["host"]["hostname"],
        "Labels": [],
        "ExperimentalBuild": False,
        "ServerVersion": __version__,
        "Runtimes": {name: {"path": r["path"]} for name, r in berth["runtimes"].items()},
        "DefaultRuntime": berth["defaultRuntime"],
        "Swarm": {"NodeID": "", "NodeAddr": "", "LocalNodeState": "inactive", "ControlAvailable": False,
                  "Error": "", "RemoteManagers": None},
        "LiveRestoreEnabled": True,  # containers outlive the service: they have their own monitors
        "Isolation": "",
        "InitBinary": "",
        "SecurityOptions": ["name=seccomp,profile=builtin"],
        "Warnings": [],
    }  # fmt: skip


def _image_count(engine: Engine) -> int:
    from berth.engine.images.store import images_root
    from berth.image.catalog import list_images
    from berth.image.images import ImageStore

    store = ImageStore(images_root(engine.config))
    try:
        return len(list_images(store))
    finally:
        store.close()


def _host_id(engine: Engine) -> str:
    """A stable identifier of this engine: the machine id, else its storage root."""
    try:
        with open("/etc/machine-id") as fh:
            return fh.read().strip()
    except OSError:
        return str(engine.config.root)


def _os_release() -> dict[str, str]:
    try:
        with open("/etc/os-release") as fh:
            pairs = (line.rstrip("\n").partition("=") for line in fh if "=" in line)
            return {key: value.strip('"') for key, _, value in pairs}
    except OSError:
        return {}


def _os_name() -> str:
    return _os_release().get("PRETTY_NAME", platform.system())


async def system_info(request: web.Request) -> web.StreamResponse:
    """``GET /info``."""
    return json_response(await blocking(request, info_document))


def _disk_usage(engine: Engine) -> dict[str, Any]:
    from pathlib import Path

    from berth.dockerapi.container_view import summary
    from berth.dockerapi.images import list_summaries
    from berth.dockerapi.volumes import volume_document
    from berth.engine.system import tree_size
    from berth.engine.volumes.local import volume_users

    images = list_summaries(engine, {})
    containers = []
    for record in engine.db.containers():
        entry = summary(record, engine.config.default_network)
        entry["SizeRw"] = tree_size(engine.paths(record.id).userdata)
        entry["SizeRootFs"] = entry["SizeRw"]
        containers.append(entry)
    volumes = []
    for volume in engine.db.volumes():
        doc = volume_document(volume)
        doc["UsageData"] = {
            "Size": tree_size(Path(volume.mountpoint)),
            "RefCount": len(volume_users(engine, volume.name)),
        }
        volumes.append(doc)
    return {
        "LayersSize": sum(i["Size"] for i in images),
        "Images": images,
        "Containers": containers,
        "Volumes": volumes,
        "BuildCache": [],
    }


def _registry_config() -> dict[str, Any]:
    """The registries registries.conf sets up (the files pulls read), in dockerd's shape: each
    one's mirrors and whether it must be secure; registries on 127.0.0.0/8 may be plain HTTP."""
    from berth.distribution import registries_files

    indexes = {
        entry.prefix: {
            "Name": entry.prefix,
            "Mirrors": [mirror.location for mirror in entry.mirrors],
            "Secure": not entry.insecure,
            "Official": entry.prefix == "docker.io",
        }
        for entry in registries_files.load().registries
    }
    return {"IndexConfigs": indexes, "InsecureRegistryCIDRs": ["127.0.0.0/8"], "Mirrors": []}


async def disk_usage(request: web.Request) -> web.StreamResponse:
    """``GET /system/df``: images, containers (with the size of their files) and volumes."""
    return json_response(await blocking(request, _disk_usage))


def register(router: Router) -> None:
    """Add the system endpoints."""
    router.add("GET", "/_ping", ping)
    router.add("HEAD", "/_ping", ping)
    router.add("GET", "/version", version)
    router.add("GET", "/info", system_info)
    router.add("GET", "/system/df", disk_usage)
