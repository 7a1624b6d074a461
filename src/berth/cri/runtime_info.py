"""Version, Status, RuntimeConfig, UpdateRuntimeConfig: what the runtime is and whether it is ready."""

from __future__ import annotations

import functools
import shutil
from typing import Any

from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services

#: The CRI version this server speaks (api.proto's package).
CRI_API_VERSION = "v1"
RUNTIME_NAME = "berth"


def version(services: Services, request: Any) -> bytes:
    """The runtime's name and version, and the CRI version (kubelet checks it is ``v1``)."""
    return _version_answer()


@functools.cache
def _version_answer() -> bytes:
    """The encoded VersionResponse, made once (reading the package metadata took about 150 µs
    per call here)."""
    from importlib.metadata import version as package_version

    answer: bytes = pb.VersionResponse(
        version="0.1.0",
        runtime_name=RUNTIME_NAME,
        runtime_version=package_version("berth"),
        runtime_api_version=CRI_API_VERSION,
    ).SerializeToString()
    return answer


def status(services: Services, request: Any) -> Any:
    """RuntimeReady when the engine's OCI runtime is installed; NetworkReady when CNI's bridge,
    host-local and portmap plugins are, and with ``cni_conf_dir`` a configuration is there
    (api.proto RuntimeCondition)."""
    with services.engine() as engine:
        try:
            engine.runtime()
            runtime_problem = ""
        except Exception as err:
            runtime_problem = str(err)
        dirs = services.config.cni_plugin_dirs or engine.config.cni_plugin_dirs
    missing = [p for p in ("bridge", "host-local", "portmap", "loopback") if not _plugin(p, dirs)]
    network_problem = f"CNI plugins not found in {':'.join(dirs)}: {', '.join(missing)}" if missing else ""
    conf_dir = services.config.cni_conf_dir
    if conf_dir and not network_problem:
        from berth.cri.cni import config_file

        if config_file(conf_dir) is None:
            network_problem = f"no CNI network configuration in {conf_dir}"
    conditions = [
        _condition("RuntimeReady", runtime_problem, "RuntimeNotReady"),
        _condition("NetworkReady", network_problem, "NetworkPluginNotReady"),
    ]
    info = {"config": services.config_json()} if request.verbose else {}
    return pb.StatusResponse(
        status=pb.RuntimeStatus(conditions=conditions),
        info=info,
        runtime_handlers=[
            pb.RuntimeHandler(name=name, features=pb.RuntimeHandlerFeatures(**features))
            for name, features in services.handler_features().items()
        ],
        features=pb.RuntimeFeatures(supplemental_groups_policy=True),
    )


def _plugin(name: str, dirs: tuple[str, ...]) -> bool:
    return shutil.which(name, path=":".join(dirs)) is not None


def _condition(kind: str, problem: str, reason: str) -> Any:
    if not problem:
        return pb.RuntimeCondition(type=kind, status=True)
    return pb.RuntimeCondition(type=kind, status=False, reason=reason, message=problem)


def runtime_config(services: Services, request: Any) -> Any:
    """The cgroup driver: Berth writes cgroupfs paths itself (no systemd slices)."""
    return pb.RuntimeConfigResponse(
        linux=pb.LinuxRuntimeConfiguration(cgroup_driver=pb.CgroupDriver.Value("CGROUPFS"))
    )


def update_runtime_config(services: Services, request: Any) -> Any:
    """Accepted and ignored: the pod CIDR it carries is for CNI configurations that read it from
    the runtime, and the engine's bridge network has its own subnet."""
    return pb.UpdateRuntimeConfigResponse()
