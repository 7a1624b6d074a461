"""The image configuration (image-spec config.md), shared by OCI and Docker images.

Fields the spec does not name (Docker's ``container_config``, ``docker_version`` and the like) are
ignored, as config.md asks; a parsed config remembers its exact bytes, which its digest covers.
"""

from __future__ import annotations

from collections.abc import Mapping

from berth.errors import InvalidArgument
from berth.spec import _json
from berth.spec.descriptor import parse_digest
from berth.spec.digest import Digest
from berth.spec.platform import Platform
from berth.spec.records import field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


@record(frozen=True)
class ContainerConfig:
    """The ``config`` object: defaults for containers made from the image (config.md#properties)."""

    user: str = ""
    exposed_ports: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: tuple[str, ...] = ()
    working_dir: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    stop_signal: str = ""
    #: Windows only (config.md): Cmd/Entrypoint are already escaped for the command line.
    args_escaped: bool = False
    #: Docker's ``Healthcheck`` (an extension images built by Docker carry; OCI defines none):
    #: ``Test`` (``["CMD", ...]``, ``["CMD-SHELL", "..."]`` or ``["NONE"]``), and ``Interval``,
    #: ``Timeout``, ``StartPeriod`` in nanoseconds and ``Retries``
    healthcheck: Mapping[str, Any] | None = None
    #: Docker's ``OnBuild`` (Dockerfile ONBUILD triggers, as written) and ``Shell`` (SHELL), which
    #: Docker-format images built by Docker and buildah carry
    on_build: tuple[str, ...] = ()
    shell: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, obj: Any, path: str) -> ContainerConfig:
        """Read the ``config`` object at ``path``."""
        obj = _json.want_object(obj, path)
        return cls(
            user=_json.get_str(obj, "User", path) or "",
            exposed_ports=_json.get_key_set(obj, "ExposedPorts", path) or (),
            env=_json.get_str_list(obj, "Env", path) or (),
            entrypoint=_json.get_str_list(obj, "Entrypoint", path),
            cmd=_json.get_str_list(obj, "Cmd", path),
            volumes=_json.get_key_set(obj, "Volumes", path) or (),
            working_dir=_json.get_str(obj, "WorkingDir", path) or "",
            labels=_json.get_str_map(obj, "Labels", path) or {},
            stop_signal=_json.get_str(obj, "StopSignal", path) or "",
            args_escaped=bool(_json.get_bool(obj, "ArgsEscaped", path)),
            healthcheck=_healthcheck(obj.get("Healthcheck"), f"{path}.Healthcheck"),
            on_build=_json.get_str_list(obj, "OnBuild", path) or (),
            shell=_json.get_str_list(obj, "Shell", path) or (),
        )

    def to_json(self) -> dict[str, Any]:
        """The ``config`` object with empty fields left out."""
        out: dict[str, Any] = {}
        if self.user:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {p: {} for p in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {v: {} for v in self.volumes}
        if self.working_dir:
            out["WorkingDir"] = self.working_dir
        if self.labels:
            out["Labels"] = dict(self.labels)
        if self.stop_signal:
            out["StopSignal"] = self.stop_signal
        if self.args_escaped:
            out["ArgsEscaped"] = True
        if self.healthcheck is not None:
            out["Healthcheck"] = dict(self.healthcheck)
        if self.on_build:
            out["OnBuild"] = list(self.on_build)
        if self.shell:
            out["Shell"] = list(self.shell)
        return out


def _healthcheck(value: Any, path: str) -> dict[str, Any] | None:
    """Docker's ``Healthcheck`` object, its known fields checked (others kept as they are)."""
    if value is None:
        return None
    obj = _json.want_object(value, path)
    _json.get_str_list(obj, "Test", path)
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        number = _json.get_int(obj, key, path)
        if number is not None and number < 0:
            raise InvalidArgument(f"{path}.{key}: must not be negative")
    return dict(obj)


@record(frozen=True)
class History:
    """One entry of ``history``: how a layer (or an empty step) was made."""

    created: str = ""
    created_by: str = ""
    author: str = ""
    comment: str = ""
    empty_layer: bool = False

    @classmethod
    def from_json(cls, obj: Any, path: str) -> History:
        """Read a history entry at ``path``."""
        obj = _json.want_object(obj, path)
        return cls(
            created=_json.get_str(obj, "created", path) or "",
            created_by=_json.get_str(obj, "created_by", path) or "",
            author=_json.get_str(obj, "author", path) or "",
            comment=_json.get_str(obj, "comment", path) or "",
            empty_layer=bool(_json.get_bool(obj, "empty_layer", path)),
        )

    def to_json(self) -> dict[str, Any]:
        """The history entry with empty fields left out."""
        out: dict[str, Any] = {}
        for key in ("created", "created_by", "author", "comment"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        if self.empty_layer:
            out["empty_layer"] = True
        return out


@record(frozen=True)
class ImageConfig:
    """An image configuration: platform, container defaults, layer DiffIDs and history."""

    architecture: str
    os: str
    diff_ids: tuple[Digest, ...]
    config: ContainerConfig = field(default_factory=ContainerConfig)
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()
    created: str = ""
    author: str = ""
    history: tuple[History, ...] = ()

    @classmethod
    def parse(cls, data: bytes) -> ImageConfig:
        """Parse config bytes; errors name the field (``config.rootfs.diff_ids[1]: ...``)."""
        path = "config"
        obj = _json.load_object(data, path)
        rootfs = obj.get("rootfs")
        if rootfs is None:
            raise InvalidArgument(f"{path}.rootfs: required field missing")
        rootfs = _json.want_object(rootfs, f"{path}.rootfs")
        kind = _json.req_str(rootfs, "type", f"{path}.rootfs")
        if kind != "layers":
            raise InvalidArgument(f"{path}.rootfs.type: want 'layers', got {kind!r}")
        diff_ids = _json.get_list(rootfs, "diff_ids", f"{path}.rootfs", required=True)
        assert diff_ids is not None
        history = _json.get_list(obj, "history", path) or []
        cfg = obj.get("config")
        parsed = cls(
            architecture=_json.req_str(obj, "architecture", path),
            os=_json.req_str(obj, "os", path),
            diff_ids=tuple(_diff_id(d, f"{path}.rootfs.diff_ids[{i}]") for i, d in enumerate(diff_ids)),
            config=ContainerConfig() if cfg is None else ContainerConfig.from_json(cfg, f"{path}.config"),
            variant=_json.get_str(obj, "variant", path) or "",
            os_version=_json.get_str(obj, "os.version", path) or "",
            os_features=_json.get_str_list(obj, "os.features", path) or (),
            created=_json.get_str(obj, "created", path) or "",
            author=_json.get_str(obj, "author", path) or "",
            history=tuple(History.from_json(h, f"{path}.history[{i}]") for i, h in enumerate(history)),
        )
        object.__setattr__(parsed, "_raw", bytes(data))
        return parsed

    @property
    def platform(self) -> Platform:
        """The platform the image is built for."""
        return Platform(self.os, self.architecture, self.variant, self.os_version, self.os_features)

    def to_bytes(self) -> bytes:
        """Exactly the bytes parsed, or a compact encoding of a config built in code."""
        raw: bytes | None = self.__dict__.get("_raw")
        if raw is None:
            raw = _json.dump(self.to_json())
            object.__setattr__(self, "_raw", raw)
        return raw

    def digest(self) -> Digest:
        """The sha256 digest of ``to_bytes()`` (what a manifest's config descriptor names)."""
        return Digest.of(self.to_bytes())

    def to_json(self) -> dict[str, Any]:
        """The config as a JSON object, in the spec's field order, empty optionals left out."""
        out: dict[str, Any] = {}
        if self.created:
            out["created"] = self.created
        if self.author:
            out["author"] = self.author
        out["architecture"] = self.architecture
        if self.variant:
            out["variant"] = self.variant
        out["os"] = self.os
        if self.os_version:
            out["os.version"] = self.os_version
        if self.os_features:
            out["os.features"] = list(self.os_features)
        out["config"] = self.config.to_json()
        out["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in self.diff_ids]}
        if self.history:
            out["history"] = [h.to_json() for h in self.history]
        return out


def _diff_id(value: Any, path: str) -> Digest:
    if not isinstance(value, str):
        raise InvalidArgument(f"{path}: want a digest string")
    return parse_digest(value, path)
