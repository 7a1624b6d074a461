"""containers-registries.d(5): where simple signatures live, and whether sigstore attachments count.

The directory is ``--registries.d DIR``, else ``$HOME/.config/containers/registries.d`` if it
exists, else /etc/containers/registries.d. Every ``*.yaml`` file in it is merged; a
``default-docker`` section or a ``docker`` namespace defined in two files is an error, as for
containers/image. For an image, the sections consulted are its ``docker`` entry for the reference,
then for each namespace above it (the policy's scopes, most specific first), then ``default-docker``;
the first that sets a field gives it. Unknown fields are ignored, as containers/image ignores them.

A signature's place in lookaside storage is ``BASE/REPOSITORY-PATH@ALGO=HEX/signature-N`` (N from 1),
the repository path being the image's name without its registry host.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust.errors import PolicyError

SYSTEM_DIR = Path("/etc/containers/registries.d")
#: containers/image's built-in lookaside when none is configured: root's, and other users' (in $HOME).
ROOT_LOOKASIDE = "file:///var/lib/containers/sigstore"
USER_LOOKASIDE = ".local/share/containers/sigstore"
#: containers/image stops reading lookaside signatures of one image here (a broken server, surely).
MAX_LOOKASIDE_SIGNATURES = 128


@dataclass(frozen=True)
class Namespace:
    """One section: ``lookaside`` (read, and write without staging), ``lookaside-staging`` (write),
    ``use-sigstore-attachments``. ``sigstore``/``sigstore-staging`` are the old names of the first two."""

    lookaside: str = ""
    lookaside_staging: str = ""
    use_sigstore_attachments: bool | None = None

    def top_level(self, write: bool) -> str:
        """The lookaside base URL this section gives for reading or writing, or ''."""
        return (self.lookaside_staging if write else "") or self.lookaside


@dataclass(frozen=True)
class RegistriesD:
    """The merged registries.d configuration."""

    default_docker: Namespace | None = None
    docker: dict[str, Namespace] = field(default_factory=dict)

    def _sections(self, image: Reference) -> Iterator[Namespace]:
        from berth.trust.policy import docker_scopes

        for scope in docker_scopes(image):
            if scope in self.docker:
                yield self.docker[scope]
        if self.default_docker is not None:
            yield self.default_docker

    def use_sigstore_attachments(self, image: Reference) -> bool:
        """Whether sigstore signatures of ``image`` are read from (and written to) its registry."""
        for section in self._sections(image):
            if section.use_sigstore_attachments is not None:
                return section.use_sigstore_attachments
        return False

    def lookaside_base(self, image: Reference, write: bool) -> str:
        """The lookaside URL of ``image``'s repository (the built-in default if none is set)."""
        top = next((url for s in self._sections(image) if (url := s.top_level(write))), "")
        if not top:
            top = ROOT_LOOKASIDE if os.geteuid() == 0 else Path.home().joinpath(USER_LOOKASIDE).as_uri()
        path = image.name.split("/", 1)[1]  # reference.Path: the name without the registry host
        return f"{top.rstrip('/')}/{path}"


def signature_url(base: str, digest: Digest, index: int) -> str:
    """The URL of the ``index``-th (from 0) lookaside signature of the manifest ``digest``."""
    return f"{base}@{digest.algorithm}={digest.encoded}/signature-{index + 1}"


def registries_d_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    """``--registries.d``, else the user's directory if it exists, else the system's."""
    from berth.trust.policy import containers_config

    return containers_config(explicit, "registries.d", SYSTEM_DIR)


_FIELDS = {
    "lookaside": "lookaside",
    "sigstore": "lookaside",
    "lookaside-staging": "lookaside_staging",
    "sigstore-staging": "lookaside_staging",
}


def _namespace(obj: Any, where: str) -> Namespace:
    if obj is None:
        return Namespace()
    if not isinstance(obj, dict):
        raise PolicyError(f"{where}: not a mapping")
    values: dict[str, Any] = {}
    for name, attr in _FIELDS.items():  # lookaside wins over its old name sigstore
        value = obj.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise PolicyError(f"{where}: {name} must be a string URL")
        values.setdefault(attr, value)
    use = obj.get("use-sigstore-attachments")
    if use is not None and not isinstance(use, bool):
        raise PolicyError(f"{where}: use-sigstore-attachments must be true or false")
    return Namespace(values.get("lookaside", ""), values.get("lookaside_staging", ""), use)


def load_registries_d(explicit: str | os.PathLike[str] | None = None) -> RegistriesD:
    """Read and merge the registries.d directory; a missing directory configures nothing."""
    import yaml

    directory = registries_d_dir(explicit)
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        if explicit is not None:
            raise PolicyError(f"registries.d directory {directory} does not exist") from None
        return RegistriesD()
    default: Namespace | None = None
    default_from = ""
    docker: dict[str, Namespace] = {}
    docker_from: dict[str, str] = {}
    for name in names:
        if not name.endswith(".yaml"):
            continue
        path = directory / name
        try:
            doc = yaml.safe_load(path.read_bytes())
        except yaml.YAMLError as err:
            problem = str(err).splitlines()[0]
            raise PolicyError(f"{path}: not valid YAML: {problem}") from None
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise PolicyError(f"{path}: not a YAML mapping")
        if doc.get("default-docker") is not None:
            if default is not None:
                raise PolicyError(
                    f"registries.d: default-docker is defined in both {default_from} and {path}"
                )
            default, default_from = _namespace(doc["default-docker"], f"{path}: default-docker"), str(path)
        sections = doc.get("docker") or {}
        if not isinstance(sections, dict):
            raise PolicyError(f"{path}: docker must be a mapping of namespaces")
        for scope, section in sections.items():
            if scope in docker:
                raise PolicyError(f"registries.d: docker namespace {scope!r} is defined in both "
                                  f"{docker_from[scope]} and {path}")  # fmt: skip
            docker[str(scope)] = _namespace(section, f"{path}: docker {scope}")
            docker_from[str(scope)] = str(path)
    return RegistriesD(default, docker)
