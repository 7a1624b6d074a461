"""Registry client: the OCI Distribution Spec from the pulling and pushing side.

``RegistryClient`` owns the HTTP session; ``Repository`` does manifest and blob operations with
authorization (anonymous, Basic, Bearer tokens), retries and resumable downloads. Copying whole
images between registries, layouts, archives and the Berth store is ``berth.distribution.transports``.
"""

from __future__ import annotations

from berth.distribution.client.errors import BlobUnknown, ManifestUnknown, RegistryError, Unauthorized
from berth.distribution.client.registry import Registry, RetryPolicy
from berth.distribution.client.repository import Manifest, ManifestHead, Repository
from berth.distribution.client.session import RegistryClient

__all__ = [
    "BlobUnknown",
    "Manifest",
    "ManifestHead",
    "ManifestUnknown",
    "Registry",
    "RegistryClient",
    "RegistryError",
    "Repository",
    "RetryPolicy",
    "Unauthorized",
]
