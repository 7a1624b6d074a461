"""``features``: what this runtime implements, as runtime-spec features.md describes it."""

from __future__ import annotations

import json

from berth.runtime.linux.mounts import MOUNT_FLAGS, PROPAGATION, RECURSIVE_ATTRS
from berth.runtime.linux.namespaces import CLONE_FLAGS
from berth.spec.runtime_config import CAPABILITY_NAMES, HOOK_NAMES, MAX_MINOR, MPOL_FLAGS, MPOL_MODES


def features() -> str:
    """The features document (JSON)."""
    doc = {
        "ociVersionMin": "1.0.0",
        "ociVersionMax": f"1.{MAX_MINOR}.0",
        "hooks": list(HOOK_NAMES),
        "mountOptions": sorted([*MOUNT_FLAGS, *PROPAGATION, *RECURSIVE_ATTRS]),
        "linux": {
            "namespaces": sorted(CLONE_FLAGS),
            "capabilities": list(CAPABILITY_NAMES),
            "cgroup": {"v1": True, "v2": True, "systemd": False, "systemdUser": False},
            "seccomp": {"enabled": True},
            "apparmor": {"enabled": True},  # applied where the host has it; refused elsewhere
            "selinux": {"enabled": True},
            "memoryPolicy": {"modes": list(MPOL_MODES), "flags": list(MPOL_FLAGS)},
            "intelRdt": {"enabled": False},
            "mountExtensions": {"idmap": {"enabled": True}},  # bind mounts only
        },
        "annotations": {"org.opencontainers.runtime-spec.features.runtime": "berth-runtime"},
    }
    return json.dumps(doc, indent=4) + "\n"
