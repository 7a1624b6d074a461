"""The signature policy applied where an image comes in, and the audit log of its verdicts.

``evaluate`` judges one image against the requirements of its scope, as containers/image does:
every requirement must accept; ``sigstoreSigned`` accepts when one stored signature is made by its
key, signs the image's manifest digest and names an identity its ``signedIdentity`` allows.
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
from typing import Any

from berth.distribution.transports.base import ImageSource, RawManifest
from berth.spec.digest import Digest
from berth.spec.reference import Reference
from berth.trust import keys
from berth.trust.attachments import Signature, fetch_signatures
from berth.trust.errors import PolicyError, PolicyRejected, SignatureError
from berth.trust.policy import (
    INSECURE_ACCEPT_ANYTHING,
    REJECT,
    SIGNED_BY,
    Policy,
    Requirement,
    Scope,
)
from berth.trust.signing import check_signature

SignatureSource = Callable[[], Awaitable[list[Signature]]]


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


async def _sigstore_reason(
    req: Requirement, image: Reference | None, digest: Digest, signatures: SignatureSource
) -> str:
    """Why ``req`` (sigstoreSigned) refuses the image, or '' if it accepts it."""
    public = [
        keys.load_public_key(data, what=f"sigstoreSigned key {req.describe()}") for data in _key_bytes(req)
    ]
    if image is None:
        return "sigstore signatures can only be checked on docker:// images"
    found = await signatures()
    if not found:
        return "a signature was required, but no signature exists"
    reasons = []
    for signature in found:
        try:
            payload = check_signature(signature, public, digest)
        except SignatureError as err:
            reasons.append(str(err))
            continue
        if req.identity.matches(image, payload.docker_reference):
            return ""
        reasons.append(f"identity mismatch: signature names {payload.docker_reference!r}")
    return "; ".join(dict.fromkeys(reasons))


async def _reason(
    req: Requirement, image: Reference | None, digest: Digest, signatures: SignatureSource
) -> str:
    if req.type == INSECURE_ACCEPT_ANYTHING:
        return ""
    if req.type == REJECT:
        return "rejected by policy"
    if req.type == SIGNED_BY:
        _key_bytes(req)  # a missing key file is an error of the policy, as for containers/image
        return "no GPG simple signature found (Berth does not read lookaside storage yet)"
    return await _sigstore_reason(req, image, digest, signatures)


async def evaluate(
    scope: Scope,
    image: Reference | None,
    shown: str,
    digest: Digest,
    signatures: SignatureSource,
    source: str,
) -> Verdict:
    """Judge the image ``shown`` (its docker reference, if it has one) with manifest ``digest``."""
    scope_name = f"{scope.transport}:{scope.name}" if scope.transport else "default"
    for req in scope.requirements:
        reason = await _reason(req, image, digest, signatures)
        if reason:
            return Verdict(shown, str(digest), source, scope_name, False, req.describe(), reason)
    rules = ", ".join(req.describe() for req in scope.requirements)
    return Verdict(shown, str(digest), source, scope_name, True, rules, "")


def audit_log_path(root: Path) -> Path:
    """The audit log under Berth's storage root."""
    return root / "trust" / "audit.jsonl"


def record(root: Path, verdict: Verdict) -> None:
    """Append ``verdict`` to the audit log (one write to an O_APPEND file: lines never interleave)."""
    path = audit_log_path(root)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, verdict.to_json())
    finally:
        os.close(fd)


def recorded_verdicts(root: Path, digest: str) -> list[dict[str, Any]]:
    """The audit log's verdicts for the manifest ``digest``, oldest first (a torn line is skipped)."""
    try:
        lines = audit_log_path(root).read_bytes().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("digest") == digest:
            found.append(entry)
    return found


def policy_admission(
    policy: Policy, audit_root: Path | None
) -> Callable[[ImageSource, RawManifest], Awaitable[None]]:
    """The copier's ``admit`` hook for ``policy``: raises ``PolicyRejected`` with the reason."""

    async def admit(source: ImageSource, top: RawManifest) -> None:
        from berth.distribution.transports.docker import DockerSource

        digest = top.digest
        if isinstance(source, DockerSource) and source.repository is not None:
            repo, image = source.repository, source.reference
            scope = policy.docker_scope(image)
            verdict = await evaluate(
                scope, image, str(image), digest, lambda: fetch_signatures(repo, digest), policy.source
            )
        else:
            scope = policy.scope_for(source.transport, [])

            async def none() -> list[Signature]:
                return []

            verdict = await evaluate(scope, None, f"{source.transport}:", digest, none, policy.source)
        if audit_root is not None:
            record(audit_root, verdict)
        if not verdict.accepted:
            raise PolicyRejected(f"{verdict.image} is rejected by {policy.source}: {verdict.reason}")

    return admit
