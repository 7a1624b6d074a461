"""The user's request for a pod (``berth pod create``'s flags, podman's names)."""

from __future__ import annotations

from berth.spec.records import as_dict, field, record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

#: The namespaces a pod's containers share unless ``--share`` says otherwise (podman's default).
DEFAULT_SHARE = ("net", "ipc", "uts")


@record
class PodOptions:
    """Flags of ``berth pod create``.

    ``network``: "" for the default bridge, ``none``, ``host`` or a network's name; ``share``: the
    namespaces of the infra the containers join (``net``, ``ipc``, ``uts``, ``pid``);
    ``infra_image``: "" for Berth's pause image; ``infra_name``: "" for ``<pod id[:12]>-infra``;
    ``restart``: the default ``--restart`` of the pod's containers.
    """

    name: str = ""
    hostname: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    publish: list[str] = field(default_factory=list)
    network: str = ""
    share: list[str] = field(default_factory=lambda: list(DEFAULT_SHARE))
    infra: bool = True
    infra_image: str = ""
    infra_name: str = ""
    #: ``--infra-command``: the infra's command instead of its image's
    infra_command: list[str] = field(default_factory=list)
    add_host: list[str] = field(default_factory=list)
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_option: list[str] = field(default_factory=list)
    cpus: str = ""
    memory: str = ""
    restart: str = ""
    #: ``--uidmap``, ``--gidmap``: the infra's user namespace (share ``user`` for the containers)
    uidmap: list[str] = field(default_factory=list)
    gidmap: list[str] = field(default_factory=list)
    #: the OCI runtime of the infra ("" for the engine's default)
    infra_runtime: str = ""
    #: ``--cgroup-parent``: the cgroup the pod's own goes under ("" for the engine's cgroup parent)
    cgroup_parent: str = ""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready form, as stored in the pod's record."""
        return as_dict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PodOptions:
        """Inverse of ``to_json`` (keys the engine added to the record's config are ignored)."""
        known = set(as_dict(cls()))
        return cls(**{k: v for k, v in data.items() if k in known})
