"""``info``, ``system df`` and ``system prune``: the engine as a whole.

``prune`` removes every container that is not running, unused networks (not the default) and, on
request, unused volumes; then it sweeps what no container owns any more: runtime state, mounts under
the run root (network namespaces, root filesystems) and ``berth-*`` cgroups, so a command killed at
any point leaves nothing behind once pruned. It then collects the image store's garbage: blobs no
image or live lease holds, and ingests no live writer holds (a killed pull's lease dies with it).
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from berth import __version__
from berth.engine.containers.remove import remove_container
from berth.engine.containers.state import refresh, restart_pending
from berth.engine.engine import Engine
from berth.engine.metadata import ACTIVE, RUNNING
from berth.engine.networks.bridge import remove_network, remove_stray_nat_rules
from berth.engine.runtime import KNOWN_RUNTIMES, OCIRuntime, resolve_runtime
from berth.engine.volumes.local import prune_volumes
from berth.errors import BerthError

_CGROUP_ROOT = Path("/sys/fs/cgroup")


def cgroup_version() -> str:
    """``v2`` on a unified hierarchy, else ``v1`` (hybrid hosts count as v1, as runc treats them)."""
    return "v2" if (_CGROUP_ROOT / "cgroup.controllers").exists() else "v1"


def _runtime_info(engine: Engine) -> dict[str, Any]:
    names = list(dict.fromkeys([engine.config.runtime, *KNOWN_RUNTIMES, *engine.config.runtimes]))
    found: dict[str, Any] = {}
    for name in names:
        try:
            path = resolve_runtime(name, engine.config.runtimes)
        except BerthError:
            continue
        out = subprocess.run([path, "--version"], capture_output=True, text=True)
        found[name] = {"path": path, "version": (out.stdout.strip().splitlines() or [""])[0]}
    return found


def info(engine: Engine) -> dict[str, Any]:
    """What ``berth info`` shows: host, storage, runtimes, counts."""
    records = engine.db.containers()
    return {
        "host": {
            "arch": platform.machine(),
            "kernel": platform.release(),
            "os": platform.system().lower(),
            "cgroupVersion": cgroup_version(),
            "hostname": platform.node(),
        },
        "store": {
            "graphRoot": str(engine.config.root),
            "runRoot": str(engine.config.runroot),
            "databasePath": str(engine.config.db_path),
            "containerStore": {
                "number": len(records),
                "running": sum(r.state == RUNNING for r in records),
                "stopped": sum(r.state not in ACTIVE for r in records),
            },
            "volumes": len(engine.db.volumes()),
        },
        **registries_info(),
        "networks": len(engine.db.networks()),
        "cniPluginDirs": list(engine.config.cni_plugin_dirs),
        "defaultRuntime": engine.config.runtime,
        "runtimes": _runtime_info(engine),
        "version": {"berth": __version__, "python": platform.python_version()},
    }


def registries_info() -> dict[str, Any]:
    """``registries`` as podman's ``info`` shows it (search list, then each [[registry]] by prefix),
    and ``registriesConf``: the files read, in order, and the settings no entry shows."""
    from berth.distribution.registries_files import load

    conf = load()
    registries: dict[str, Any] = {"search": list(conf.search)} if conf.search else {}
    for entry in conf.registries:
        registries[entry.prefix] = {
            "Prefix": entry.prefix,
            "Location": entry.location,
            "Insecure": entry.insecure,
            "PullFromMirror": "",
            "Mirrors": [
                {"Location": m.location, "Insecure": m.insecure, "PullFromMirror": m.pull_from_mirror}
                for m in entry.mirrors
            ]
            or None,  # as podman shows an entry without mirrors
            "Blocked": entry.blocked,
            "MirrorByDigestOnly": entry.mirror_by_digest_only,
        }
    return {
        "registries": registries,
        "registriesConf": {
            "files": list(conf.files),
            "shortNameMode": conf.mode,
            "aliases": len([a for a in conf.aliases.values() if a.value is not None]),
            "credentialHelpers": list(conf.helpers),
        },
    }


def tree_size(path: Path) -> int:
    """The bytes the files under ``path`` take on disk."""
    total = 0
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
    return total


def disk_usage(engine: Engine) -> list[dict[str, Any]]:
    """``system df``: per kind, how many, how many in use, the bytes, the bytes prune would free."""
    from berth.engine.volumes.local import volume_users

    records = engine.db.containers()
    sizes = {r.id: tree_size(engine.paths(r.id).userdata) for r in records}
    volumes = engine.db.volumes()
    vol_sizes = {v.name: tree_size(Path(v.mountpoint)) for v in volumes}
    used = {v.name for v in volumes if volume_users(engine, v.name)}
    return [
        {
            "Type": "Containers",
            "Total": len(records),
            "Active": sum(r.state in ACTIVE for r in records),
            "Size": sum(sizes.values()),
            "Reclaimable": sum(
                s for cid, s in sizes.items() if not any(r.id == cid and r.state in ACTIVE for r in records)
            ),
        },
        {
            "Type": "Local Volumes",
            "Total": len(volumes),
            "Active": len(used),
            "Size": sum(vol_sizes.values()),
            "Reclaimable": sum(s for n, s in vol_sizes.items() if n not in used),
        },
    ]


def prune(engine: Engine, volumes: bool = False) -> dict[str, list[str]]:
    """Remove stopped containers, unused networks (and volumes); sweep stray host resources."""
    from berth.engine.containers.owned import sweep_dead_owners

    removed: dict[str, list[str]] = {"containers": [], "networks": [], "volumes": []}
    sweep_dead_owners(engine)  # a killed build's containers, even those still running
    for record in engine.db.containers():
        record = refresh(engine, record)
        if record.state not in ACTIVE and not restart_pending(record):
            with contextlib.suppress(BerthError):  # started or restarting since: told under its lock
                remove_container(engine, record.id, spare_restarting=True)
                removed["containers"].append(record.id)
    # Strays first: the nat rules a dead container left are found by its network's name, which
    # must still be known.
    sweep_strays(engine)
    in_use = {r.config.get("network") for r in engine.db.containers()}
    for net in engine.db.networks():
        if net.name != engine.config.default_network and net.name not in in_use:
            remove_network(engine.config, engine.db, net.name, in_use=False)
            removed["networks"].append(net.name)
    if volumes:
        removed["volumes"] = prune_volumes(engine)
    collect_images(engine)
    return removed


def collect_images(engine: Engine) -> None:
    """Run the image store's garbage collection, ingests included at once.

    An ingest being written is flocked by its writer and a live pull's lease names it, so no grace
    period is needed to spare it; an unlocked, unleased ingest is what a dead writer left.
    """
    from berth.engine.images.store import images_root
    from berth.image.images import ImageStore

    store = ImageStore(images_root(engine.config))
    try:
        store.gc(ingest_grace=0.0)
    finally:
        store.close()


def sweep_strays(engine: Engine) -> None:
    """Undo host state that belongs to no live container: runtime state, mounts, cgroups, run dirs."""
    # A monitor waiting out a restart backoff still serves its socket in the run directory.
    live = {r.id for r in engine.db.containers() if r.state in ACTIVE or restart_pending(r)}
    known = {r.id for r in engine.db.containers()}
    for state_dir in engine.config.runtime_root.glob("*"):
        for entry in state_dir.iterdir() if state_dir.is_dir() else []:
            # Dot-directories are the runtime's own (berth-runtime's .seccomp-cache), not containers.
            if entry.is_dir() and entry.name not in live and not entry.name.startswith("."):
                _delete_runtime_state(engine, state_dir.name, entry.name)
    run_containers = engine.config.run_containers_dir
    prefix = str(run_containers) + "/"
    for line in reversed(Path("/proc/self/mountinfo").read_text().splitlines()):
        target = line.split()[4].replace("\\040", " ")
        if target.startswith(prefix) and target[len(prefix) :].split("/")[0] not in live:
            subprocess.run(["umount", "-l", target], capture_output=True)
    if run_containers.is_dir():
        for entry in run_containers.iterdir():
            if entry.name not in live:
                shutil.rmtree(entry, ignore_errors=True)
    for entry in engine.config.containers_dir.glob("*") if engine.config.containers_dir.is_dir() else []:
        if entry.is_dir() and entry.name not in known:
            shutil.rmtree(entry, ignore_errors=True)
    _sweep_cgroups(live)
    remove_stray_nat_rules({n.name for n in engine.db.networks()}, live)
    from berth.engine.images.store import stray_roots

    stray_roots(engine)


def _delete_runtime_state(engine: Engine, binary: str, cid: str) -> None:
    with contextlib.suppress(BerthError):
        path = resolve_runtime(binary, engine.config.runtimes)
        OCIRuntime(binary, path, engine.config.runtime_root / binary).delete(cid, force=True)


def _sweep_cgroups(live: set[str]) -> None:
    if not _CGROUP_ROOT.is_dir():
        return
    for hierarchy in _CGROUP_ROOT.iterdir():
        if not hierarchy.is_dir() or hierarchy.is_symlink():
            continue
        # os.walk, not Path.glob: other software makes and removes its own cgroups meanwhile, and
        # glob raises on a directory that went; walk skips it. Bottom-up: a child goes before its parent.
        for dirpath, _dirs, _files in os.walk(hierarchy, topdown=False):
            name = os.path.basename(dirpath)
            if name.startswith("berth-") and name[len("berth-") :] not in live:
                with contextlib.suppress(OSError):
                    os.rmdir(dirpath)
