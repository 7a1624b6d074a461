"""Images for the SBOM tests, stored straight into a Berth storage root."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from pathlib import Path

from berth.image.images import ImageStore
from berth.spec import mediatypes
from berth.spec.descriptor import Descriptor

CREATED = "2024-05-01T12:00:00.5Z"


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (a name ending in ``/`` is a directory), fixed metadata."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name.rstrip("/"))
            info.mtime = 0
            if name.endswith("/"):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def store_image(root: Path, name: str, layers: list[bytes]) -> list[str]:
    """Store an image of the tar ``layers`` (gzipped) under ``root``/images; return its diff IDs."""
    import hashlib

    images = ImageStore(root / "images")
    try:
        descs, diff_ids = [], []
        for tar in layers:
            diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
            blob = gzip.compress(tar, mtime=0)
            desc = Descriptor.of(mediatypes.OCI_LAYER_GZIP, blob)
            images.content.put(blob, desc)
            descs.append(desc.to_json())
        config = {
            "created": CREATED,
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }
        config_bytes = json.dumps(config).encode()
        config_desc = Descriptor.of(mediatypes.OCI_CONFIG, config_bytes)
        images.content.put(config_bytes, config_desc)
        manifest = {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": config_desc.to_json(),
            "layers": descs,
        }
        manifest_bytes = json.dumps(manifest).encode()
        manifest_desc = Descriptor.of(mediatypes.OCI_MANIFEST, manifest_bytes)
        images.content.put(manifest_bytes, manifest_desc)
        images.create(name, manifest_desc)
    finally:
        images.close()
    return diff_ids
