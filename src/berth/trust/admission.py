"""The signature policy applied where an image comes in, and the audit log of its verdicts.

``evaluate`` judges one image against the requirements of its scope, as containers/image does:
every requirement must accept; ``sigstoreSigned`` (sigstore attachments) and ``signedBy`` (GPG
simple signatures) accept when one stored signature is made by their key, signs the image's
manifest digest and names an identity their ``signedIdentity`` allows.
``policy_admission`` makes the copier's ``admit`` hook from it, so a refused image is stopped after
its top-level manifest is read and before anything is written. Each verdict is appended to
``<root>/trust/audit.jsonl`` as one JSON object per line.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TypeVar

from berth.distribution.transports.base import ImageSource, RawManifest
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.attachments import Signature
from berth.trust.carry import SignatureReader
from berth.trust.errors import PolicyError, PolicyRejected, SignatureError
from berth.trust.payload import Payload
from berth.trust.policy import (
    INSECURE_ACCEPT_ANYTHING,
    REJECT,
    SIGNED_BY,
    Policy,
    Requirement,
    Scope,
)
from berth.trust.registries_d import RegistriesD
from berth.trust.signing import check_signature, check_simple_signature

T = TypeVar("T")


@dataclass(frozen=True)
class StoredSignatures:
    """How to read an image's signatures, each kind only when a requirement asks for it."""

    sigstore: Callable[[], Awaitable[list[Signature]]]
    simple: Callable[[], Awaitable[list[bytes]]]


async def _nothing() -> list[Any]:
    return []


NO_SIGNATURES = StoredSignatures(_nothing, _nothing)


@dataclass(frozen=True)
class Verdict:
    """The policy's answer for one image."""

    image: str
    digest: str
    policy: str
    scope: str
    accepted: bool
    rule: str
    reason: str

    def to_json(self) -> bytes:
        """One audit-log line."""
        return json.dumps({"time": int(time.time()), **asdict(self)}, separators=(",", ":")).encode() + b"\n"


def _key_bytes(req: Requirement) -> list[bytes]:
    if req.key_data is not None:
        return [req.key_data]
    found = []
    for path in req.key_paths:
        try:
            found.append(Path(path).read_bytes())
        except FileNotFoundError:
            raise PolicyError(f"{req.type}: key file {path} does not exist") from None
    return found


async def _signature_reason(
    req: Requirement,
    image: Reference | None,
    found: list[T],
    check: Callable[[T], Payload],
) -> str:
    """Why no signature in ``found`` passes ``check`` and names an identity ``req`` allows, or ''."""
    if not found:
        return "a signature was required, but no signature exists"
    reasons = []
    for signature in found:
        try:
            payload = check(signature)
        except SignatureError as err:
            reasons.append(str(err))
            continue
        if image is not None and req.identity.matches(image, payload.docker_reference):
            return ""
        reasons.append(f"identity mismatch: signature names {payload.docker_reference!r}")
    return "; ".join(dict.fromkeys(reasons))


async def _reason(req: Requirement, image: Reference | None, digest: Digest, stored: StoredSignatures) -> str:
    if req.type == INSECURE_ACCEPT_ANYTHING:
        return ""
    if req.type == REJECT:
        return "rejected by policy"
    key_data = _key_bytes(req)  # a missing key file is an error of the policy, as for containers/image
    if image is None:
        return "signatures can only be checked on docker:// images"
    if req.type == SIGNED_BY:
        blobs = await stored.simple()
        return await _signature_reason(
            req, image, blobs, lambda blob: check_simple_signature(blob, key_data, digest)
        )
    what = f"sigstoreSigned key {req.describe()}"
    public = [keys.load_public_key(data, what=what) for data in key_data]
    sigs = await stored.sigstore()
    return await _signature_reason(req, image, sigs, lambda sig: check_signature(sig, public, digest))


async def evaluate(
    scope: Scope,
    image: Reference | None,
    shown: str,
    digest: Digest,
    stored: StoredSignatures,
    source: str,
) -> Verdict:
    """Judge the image ``shown`` (its docker reference, if it has one) with manifest ``digest``."""
    scope_name = f"{scope.transport}:{scope.name}" if scope.transport else "default"
    for req in scope.requirements:
        reason = await _reason(req, image, digest, stored)
        if reason:
            return Verdict(shown, str(digest), source, scope_name, False, req.describe(), reason)
    rules = ", ".join(req.describe() for req in scope.requirements)
    return Verdict(shown, str(digest), source, scope_name, True, rules, "")


def audit_log_path(root: Path) -> Path:
    """The audit log under Berth's storage root."""
    return root / "trust" / "audit.jsonl"


def record(root: Path, verdict: Verdict) -> None:
    """Append ``verdict`` to the audit log (one write to an O_APPEND file: lines never interleave)
    and to the event log, as a ``signature`` event with status ``accepted`` or ``rejected``."""
    from berth.events import append_line, emit, log_path

    append_line(audit_log_path(root), verdict.to_json())
    details = {
        "digest": verdict.digest,
        "policy": verdict.policy,
        "scope": verdict.scope,
        "rule": verdict.rule,
    }
    if verdict.reason:
        details["reason"] = verdict.reason
    status = "accepted" if verdict.accepted else "rejected"
    emit(log_path(root), "signature", status, ID=verdict.digest, Name=verdict.image, Attributes=details)


def recorded_verdicts(root: Path, digest: str) -> list[dict[str, Any]]:
    """The audit log's verdicts for the manifest ``digest``, oldest first (a torn line is skipped)."""
    from berth.events import parse_lines

    try:
        lines = audit_log_path(root).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    return [entry for entry in parse_lines(lines) if entry.get("digest") == digest]


def policy_admission(
    policy: Policy,
    audit_root: Path | None,
    registries: RegistriesD | None = None,
    reader: SignatureReader | None = None,
) -> Callable[[ImageSource, RawManifest], Awaitable[None]]:
    """The copier's ``admit`` hook for ``policy``: raises ``PolicyRejected`` with the reason.
    ``registries`` (registries.d) says where signatures are looked for; ``reader``, if given, is
    shared with the copy's ``signatures`` hook so each signature is read once."""
    if reader is None:
        reader = SignatureReader(registries if registries is not None else RegistriesD())

    async def admit(source: ImageSource, top: RawManifest) -> None:
        from berth.distribution.transports.docker import DockerSource

        digest = top.digest
        if isinstance(source, DockerSource) and source.repository is not None:
            image = source.reference
            scope = policy.docker_scope(image)
            stored = StoredSignatures(
                lambda: reader.sigstore(source, digest), lambda: reader.simple(source, digest)
            )
            verdict = await evaluate(scope, image, str(image), digest, stored, policy.source)
        else:
            scope = policy.scope_for(source.transport, [])
            verdict = await evaluate(
                scope, None, f"{source.transport}:", digest, NO_SIGNATURES, policy.source
            )
        if audit_root is not None:
            record(audit_root, verdict)
        if not verdict.accepted:
            raise PolicyRejected(f"{verdict.image} is rejected by {policy.source}: {verdict.reason}")

    return admit


def default_admission(
    root: Path,
    policy_file: str | os.PathLike[str] | None = None,
    registries_dir: str | os.PathLike[str] | None = None,
    reader: SignatureReader | None = None,
) -> Callable[[ImageSource, RawManifest], Awaitable[None]] | None:
    """The ``admit`` hook wherever an image comes in: the policy ``policy_file`` (default: the
    user's, else the system's), signatures found as registries.d ``registries_dir`` says (or read
    by ``reader``). None when no policy file is named and none exists: then nothing is enforced."""
    from berth.trust.policy import load_policy, policy_path
    from berth.trust.registries_d import load_registries_d

    if policy_file is None and not policy_path().exists():
        return None
    registries = reader.registries if reader is not None else load_registries_d(registries_dir)
    return policy_admission(load_policy(policy_file), root, registries, reader)
