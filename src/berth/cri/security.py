"""A CRI container's security context and mounts as the engine's create options.

The CRI says everything explicitly (the kubelet fills in Kubernetes' defaults), so where its field
is unset the answer is the CRI's, not podman's: no seccomp profile means unconfined, and the masked
and read-only path lists are the ones given.
"""

from __future__ import annotations

from typing import Any

from berth.cri.proto import api_pb2 as pb
from berth.cri.service import require
from berth.errors import InvalidArgument

_NODE = pb.NamespaceMode.Value("NODE")
_PROFILE = pb.SecurityProfile.ProfileType
# api.proto MountPropagation as the engine's ``-v`` propagation option.
_PROPAGATION = {
    pb.MountPropagation.Value("PROPAGATION_PRIVATE"): "rprivate",
    pb.MountPropagation.Value("PROPAGATION_HOST_TO_CONTAINER"): "rslave",
    pb.MountPropagation.Value("PROPAGATION_BIDIRECTIONAL"): "rshared",
}


def security_options(security: Any) -> dict[str, Any]:
    """CreateOptions fields for a LinuxContainerSecurityContext."""
    namespaces = security.namespace_options
    opts: dict[str, Any] = {
        "user": run_as(security),
        "read_only": security.readonly_rootfs,
        "cap_add": list(security.capabilities.add_capabilities),
        "cap_drop": list(security.capabilities.drop_capabilities),
        "privileged": security.privileged,
        "security_opt": [
            *(["no-new-privileges"] if security.no_new_privs else []),
            *seccomp_options(security),
        ],
        "group_add": [str(gid) for gid in security.supplemental_groups],
        "strict_groups": security.supplemental_groups_policy == pb.SupplementalGroupsPolicy.Value("Strict"),
        "pid": "host" if namespaces.pid == _NODE else "",
        "ipc": "host" if namespaces.ipc == _NODE else "",
    }
    # Empty lists are the defaults, as with containerd (proto3 cannot tell them from unset).
    opts["masked_paths"] = list(security.masked_paths) or None
    opts["readonly_paths"] = list(security.readonly_paths) or None
    return opts


def run_as(security: Any) -> str:
    """``--user``: the uid (and gid) or user name the security context asks for ("" for the image's)."""
    user = str(security.run_as_user.value) if security.HasField("run_as_user") else security.run_as_username
    if security.HasField("run_as_group"):
        if not user:
            raise InvalidArgument("run_as_group needs run_as_user or run_as_username")
        user += f":{security.run_as_group.value}"
    return user


def seccomp_options(security: Any) -> list[str]:
    """``--security-opt seccomp=...`` for the ``seccomp`` profile, else the deprecated
    ``seccomp_profile_path`` (``runtime/default``, ``unconfined``, ``localhost/PATH``); none given is
    unconfined (api.proto LinuxContainerSecurityContext.seccomp). A privileged container has none."""
    if security.privileged:
        return []
    if security.HasField("seccomp"):
        kind, ref = security.seccomp.profile_type, security.seccomp.localhost_ref
        if kind == _PROFILE.Value("RuntimeDefault"):
            return []
        if kind == _PROFILE.Value("Localhost"):
            return [f"seccomp={require(ref, 'seccomp.localhost_ref')}"]
        return ["seccomp=unconfined"]
    path = security.seccomp_profile_path
    if path in ("runtime/default", "docker/default"):
        return []
    if path.startswith("localhost/"):
        return [f"seccomp={path.removeprefix('localhost')}"]
    if path in ("", "unconfined"):
        return ["seccomp=unconfined"]
    raise InvalidArgument(
        f"invalid seccomp_profile_path {path!r}: want runtime/default, unconfined or localhost/PATH"
    )


def volume(mount: Any) -> str:
    """A CRI Mount as ``-v HOST:CONTAINER:OPTIONS``."""
    require(mount.container_path, "mounts[].container_path")
    require(mount.host_path, "mounts[].host_path")
    options = [_PROPAGATION.get(mount.propagation, "rprivate"), "ro" if mount.readonly else "rw"]
    if mount.recursive_read_only:
        # api.proto Mount.recursive_read_only: only with readonly, and private propagation (a
        # mount propagated in later could not be made read-only).
        if not mount.readonly:
            raise InvalidArgument(f"mounts[] {mount.container_path}: recursive_read_only needs readonly")
        if options[0] != "rprivate":
            raise InvalidArgument(
                f"mounts[] {mount.container_path}: recursive_read_only needs PROPAGATION_PRIVATE"
            )
        options.append("rro")
    return f"{mount.host_path}:{mount.container_path}:{','.join(options)}"


def devices(config: Any) -> list[str]:
    """``--device HOST:CONTAINER:PERMISSIONS`` for each of the config's devices."""
    return [
        f"{d.host_path}:{d.container_path or d.host_path}:{d.permissions or 'rwm'}" for d in config.devices
    ]
