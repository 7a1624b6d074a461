"""The engine's side of the event log (``berth.events``): events of containers, images, volumes and
networks with the fields podman gives each, written to the log under the engine's storage root."""

from __future__ import annotations

from berth.events import emit, log_path

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

    from berth.engine.config import EngineConfig
    from berth.engine.metadata import ContainerRecord


def container_event(
    config: EngineConfig,
    record: ContainerRecord,
    status: str,
    exit_code: int | None = None,
    health_status: str = "",
) -> None:
    """A container event (``create``, ``start``, ``died``...); its labels are the attributes."""
    options: dict[str, Any] = record.config.get("options", {})
    emit(
        log_path(config.root),
        "container",
        status,
        ID=record.id,
        Image=record.image,
        Name=record.name,
        PodID=record.pod,
        ContainerExitCode=exit_code,
        HealthStatus=health_status,
        Attributes=dict(options.get("labels") or {}),
    )


def object_event(
    config: EngineConfig,
    type_: str,
    status: str,
    name: str,
    object_id: str = "",
    attributes: dict[str, str] | None = None,
) -> None:
    """An event of an image, volume, network or pod, by name (and ID where it has one)."""
    emit(log_path(config.root), type_, status, ID=object_id, Name=name, Attributes=attributes)
