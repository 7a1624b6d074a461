"""Platforms (image-spec image-index.md#image-index-property-descriptions ``platform``) and matching.

A platform is ``os/architecture[/variant]`` plus ``os.version`` and ``os.features``. Values are
normalized the way containerd's ``platforms`` package does, so ``x86_64`` is ``amd64``, ``aarch64``
is ``arm64`` and ``arm64`` with no variant is ``arm64/v8``. Matching prefers the exact variant, then
the older variants the CPU can also run (an ARMv7 host runs v6 and v5 images; an amd64 v3 host runs
v2 and v1 images).
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument
from berth.spec import _json
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

# Values Go's GOOS/GOARCH use are lowercase words, digits and a few separators.
_COMPONENT = re.compile(r"^[a-z0-9_.-]+\Z")

# containerd platforms/database.go normalizeArch: aliases of architecture names.
_ARCH_ALIASES = {
    "i386": "386",
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
}
_OS_ALIASES = {"macos": "darwin"}
# Variants an architecture can run besides its own, newest first (the CPU is backward compatible).
_OLDER_VARIANTS = {
    "arm": ("v8", "v7", "v6", "v5"),
    "arm64": ("v9", "v8"),
    "amd64": ("v4", "v3", "v2", "v1"),
}


@record(frozen=True)
class Platform:
    """The platform a manifest runs on: ``Platform("linux", "arm64", "v8")``."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``os/arch[/variant]`` (or a bare ``arch``, meaning Linux) and normalize it."""
        if not isinstance(text, str) or not text:
            raise InvalidArgument(f"invalid platform {text!r}: want os/arch[/variant]")
        parts = text.lower().split("/")
        if len(parts) > 3 or any(not _COMPONENT.match(p) for p in parts):
            raise InvalidArgument(f"invalid platform {text!r}: want os/arch[/variant]")
        if len(parts) == 1:
            # containerd: a single word that is a known OS means the host's architecture; anything
            # else is an architecture on Linux.
            if parts[0] in ("linux", "windows", "darwin", "freebsd", "macos"):
                return cls(parts[0], host().architecture, host().variant).normalize()
            return cls("linux", parts[0]).normalize()
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalize()

    @classmethod
    def from_json(cls, obj: Any, path: str) -> Platform:
        """Read the ``platform`` object of a descriptor (image-index.md)."""
        obj = _json.want_object(obj, path)
        os_name = _json.req_str(obj, "os", path)
        arch = _json.req_str(obj, "architecture", path)
        return cls(
            os=os_name,
            architecture=arch,
            variant=_json.get_str(obj, "variant", path) or "",
            os_version=_json.get_str(obj, "os.version", path) or "",
            os_features=_json.get_str_list(obj, "os.features", path) or (),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``platform`` object, with empty optional fields left out."""
        out: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        if self.variant:
            out["variant"] = self.variant
        return out

    def normalize(self) -> Platform:
        """This platform with aliases resolved and the default variant filled in."""
        os_name = _OS_ALIASES.get(self.os.lower(), self.os.lower())
        raw_arch = self.architecture.lower()
        arch = _ARCH_ALIASES.get(raw_arch, raw_arch)
        variant = self.variant.lower()
        if raw_arch == "armhf" and not variant:
            variant = "v7"
        elif raw_arch == "armel" and not variant:
            variant = "v6"
        if arch in ("arm", "arm64", "amd64") and variant and variant[0].isdigit():
            variant = "v" + variant  # "7" and "v7" name the same variant
        if arch == "arm64" and variant in ("", "v8.0"):
            variant = "v8"
        elif arch == "arm" and not variant:
            variant = "v7"
        elif arch == "amd64" and variant == "v1":
            variant = ""  # v1 is the baseline every amd64 CPU runs
        return Platform(os_name, arch, variant, self.os_version, self.os_features)

    def compatible(self) -> list[Platform]:
        """Platforms an image may have to run here, best first (``self`` normalized comes first)."""
        me = self.normalize()
        order = _OLDER_VARIANTS.get(me.architecture)
        if not order:
            return [me]
        own = me.variant or ("v1" if me.architecture == "amd64" else "")
        if own not in order:
            return [me]
        return [
            Platform(me.os, me.architecture, v, me.os_version, me.os_features).normalize()
            for v in order[order.index(own) :]
        ]

    def matches(self, candidate: Platform) -> bool:
        """Whether an image built for ``candidate`` runs on this platform (variants included)."""
        return self.rank(candidate) is not None

    def rank(self, candidate: Platform) -> int | None:
        """How good ``candidate`` is for this platform: 0 is exact, higher is worse, None is no match."""
        other = candidate.normalize()
        for i, wanted in enumerate(self.compatible()):
            if (other.os, other.architecture, other.variant) == (
                wanted.os,
                wanted.architecture,
                wanted.variant,
            ):
                if self.os_version and other.os_version and self.os_version != other.os_version:
                    return None
                return i
        return None

    def __str__(self) -> str:
        base = f"{self.os}/{self.architecture}"
        return f"{base}/{self.variant}" if self.variant else base


def host() -> Platform:
    """The platform of this machine, normalized."""
    import os
    import sys

    machine = os.uname().machine
    arch = _ARCH_ALIASES.get(machine, machine)
    variant = ""
    if machine.startswith("armv"):
        # uname says e.g. armv7l; the digit is the ARM architecture version.
        arch, variant = "arm", "v" + machine[4]
    elif arch == "arm64":
        variant = "v8"
    os_name = "linux" if sys.platform.startswith("linux") else sys.platform
    return Platform(os_name, arch, variant).normalize()
