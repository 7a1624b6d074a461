"""containers-policy.json(5): which images may come in, and what signatures they need.

Parsing is as strict as containers/image's: unknown or duplicated fields, an unknown requirement
type and an empty requirement list reject the whole file. The requirements for an image are those
of its most specific matching scope: for ``docker``, the reference itself, its repository, each
namespace above it, the host, then ``*.``-wildcards of the host's parent domains; then the
transport's ``""`` scope, then ``default``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from berth.errors import InvalidArgument
from berth.spec.reference import Reference
from berth.trust.errors import PolicyError
from berth.trust.identity import SignedIdentity, parse_identity

INSECURE_ACCEPT_ANYTHING = "insecureAcceptAnything"
REJECT = "reject"
SIGNED_BY = "signedBy"
SIGSTORE_SIGNED = "sigstoreSigned"
SYSTEM_POLICY = Path("/etc/containers/policy.json")

#: Each requirement type, its key fields (exactly one must be present) and its other fields.
_REQUIREMENT_FIELDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    INSECURE_ACCEPT_ANYTHING: ((), ()),
    REJECT: ((), ()),
    SIGNED_BY: (("keyPath", "keyPaths", "keyData"), ("keyType", "signedIdentity")),
    SIGSTORE_SIGNED: (("keyPath", "keyData"), ("signedIdentity",)),
}


@dataclass(frozen=True)
class Requirement:
    """One policy requirement. ``key_paths`` or ``key_data`` hold its keys (signed types only)."""

    type: str
    key_paths: tuple[str, ...] = ()
    key_data: bytes | None = None
    identity: SignedIdentity = field(default_factory=SignedIdentity)

    def describe(self) -> str:
        """The requirement in a few words, for verdicts and the audit log."""
        keys = ", ".join(self.key_paths) if self.key_paths else "keyData" if self.key_data else ""
        return f"{self.type}({keys})" if keys else self.type


@dataclass(frozen=True)
class Scope:
    """The requirements that apply to an image, and which scope of the file gave them."""

    transport: str
    name: str
    requirements: tuple[Requirement, ...]


@dataclass(frozen=True)
class Policy:
    """A parsed policy.json; ``source`` is the file it came from."""

    default: tuple[Requirement, ...]
    transports: dict[str, dict[str, tuple[Requirement, ...]]]
    source: str = ""

    def scope_for(self, transport: str, candidates: list[str]) -> Scope:
        """The most specific scope among ``candidates`` (most specific first) of ``transport``."""
        scopes = self.transports.get(transport, {})
        for name in [*candidates, ""]:
            if name in scopes:
                return Scope(transport, name, scopes[name])
        return Scope("", "default", self.default)

    def docker_scope(self, reference: Reference) -> Scope:
        """The requirements for a ``docker://`` image."""
        return self.scope_for("docker", docker_scopes(reference))


def docker_scopes(reference: Reference) -> list[str]:
    """The ``docker`` transport's scopes for ``reference``, most specific first."""
    found = [str(reference), reference.name]
    parts = reference.name.split("/")
    found += ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]
    host = reference.domain.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        found.append(f"*.{host}")
    return found


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise PolicyError(f"duplicate field {key!r}")
        out[key] = value
    return out


def _requirement(obj: Any, where: str) -> Requirement:
    if not isinstance(obj, dict):
        raise PolicyError(f"{where}: a requirement is not a JSON object")
    kind = obj.get("type")
    if not isinstance(kind, str) or kind not in _REQUIREMENT_FIELDS:
        raise PolicyError(f"{where}: unknown policy requirement type {kind!r}")
    key_fields, other = _REQUIREMENT_FIELDS[kind]
    unknown = sorted(set(obj) - {"type", *key_fields, *other})
    if unknown:
        raise PolicyError(f"{where}: {kind} has unknown field {unknown[0]!r}")
    if kind in (INSECURE_ACCEPT_ANYTHING, REJECT):
        return Requirement(kind)
    if kind == SIGNED_BY and obj.get("keyType") != "GPGKeys":
        raise PolicyError(f"{where}: signedBy keyType {obj.get('keyType')!r} is not supported (want GPGKeys)")
    present = [name for name in key_fields if name in obj]
    if len(present) != 1:
        raise PolicyError(f"{where}: {kind} needs exactly one of {', '.join(key_fields)}")
    identity = parse_identity(obj["signedIdentity"], where) if "signedIdentity" in obj else SignedIdentity()
    value = obj[present[0]]
    if present[0] == "keyData":
        import base64
        import binascii

        try:
            data = base64.b64decode(_string(value, where, "keyData"), validate=True)
        except binascii.Error:
            raise PolicyError(f"{where}: {kind} keyData is not base64") from None
        return Requirement(kind, key_data=data, identity=identity)
    paths = value if present[0] == "keyPaths" else [value]
    if not isinstance(paths, list) or not paths:
        raise PolicyError(f"{where}: {kind} keyPaths must be a non-empty list of paths")
    return Requirement(kind, tuple(_string(p, where, present[0]) for p in paths), identity=identity)


def _string(value: Any, where: str, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise PolicyError(f"{where}: {name} must be a non-empty string")
    return value


def _requirements(obj: Any, where: str) -> tuple[Requirement, ...]:
    if not isinstance(obj, list) or not obj:
        raise PolicyError(f"{where}: want a non-empty list of requirements")
    return tuple(_requirement(item, where) for item in obj)


def _check_docker_scope(scope: str, where: str) -> None:
    if scope.startswith("*."):
        if "*" in scope[2:] or "/" in scope:
            raise PolicyError(f"{where}: invalid wildcard scope {scope!r}")
        return
    if "/" not in scope:  # a registry host[:port]
        if not all(c.isalnum() or c in ".-:[]" for c in scope):
            raise PolicyError(f"{where}: invalid registry host {scope!r}")
        return
    try:
        parsed = Reference.parse(scope, default_tag=False)
    except InvalidArgument as err:
        raise PolicyError(f"{where}: invalid scope: {err}") from None
    if scope not in (str(parsed), parsed.name):
        raise PolicyError(f"{where}: scope {scope!r} is not in the fully expanded form ({parsed})")


def parse_policy(data: bytes, source: str = "policy.json") -> Policy:
    """Parse a policy file's bytes; ``PolicyError`` names the file and the problem."""
    try:
        doc = json.loads(data, object_pairs_hook=_no_duplicates)
    except PolicyError as err:
        raise PolicyError(f"{source}: {err}") from None
    except ValueError as err:
        raise PolicyError(f"{source}: not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: not a JSON object")
    unknown = sorted(set(doc) - {"default", "transports"})
    if unknown:
        raise PolicyError(f"{source}: unknown field {unknown[0]!r}")
    if "default" not in doc:
        raise PolicyError(f"{source}: the 'default' requirements are missing")
    default = _requirements(doc["default"], f"{source}: default")
    transports: dict[str, dict[str, tuple[Requirement, ...]]] = {}
    raw = doc.get("transports") or {}
    if not isinstance(raw, dict):
        raise PolicyError(f"{source}: transports is not a JSON object")
    for transport, scopes in raw.items():
        if not isinstance(scopes, dict):
            raise PolicyError(f"{source}: transports.{transport} is not a JSON object")
        parsed: dict[str, tuple[Requirement, ...]] = {}
        for scope, reqs in scopes.items():
            where = f"{source}: {transport} scope {scope!r}"
            if transport == "docker" and scope:
                _check_docker_scope(scope, where)
            parsed[scope] = _requirements(reqs, where)
        transports[transport] = parsed
    return Policy(default, transports, source)


def containers_config(explicit: str | os.PathLike[str] | None, name: str, system: Path) -> Path:
    """``explicit`` if given, else ``$HOME/.config/containers/NAME`` if it exists, else ``system``:
    where containers/image looks for policy.json and registries.d."""
    if explicit is not None:
        return Path(explicit)
    home = os.environ.get("HOME")
    if home:
        user = Path(home) / ".config/containers" / name
        if user.exists():
            return user
    return system


def policy_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Where the policy is read: ``--signature-policy``, else ``$HOME/.config/containers/policy.json``
    if it exists, else /etc/containers/policy.json (containers-policy.json(5))."""
    return containers_config(explicit, "policy.json", SYSTEM_POLICY)


def load_policy(explicit: str | os.PathLike[str] | None = None) -> Policy:
    """The policy in force; a missing file is an error, as it is for podman and skopeo."""
    path = policy_path(explicit)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise PolicyError(f"signature policy {path} does not exist") from None
    return parse_policy(data, str(path))
