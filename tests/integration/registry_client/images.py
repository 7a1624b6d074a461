"""Tiny test images written straight into OCI layouts (no registry, no Berth code involved)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    path = root / "blobs/sha256" / digest
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def layer_tar(files: dict[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` with fixed metadata (reproducible)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_image(
    root: Path, layers: list[dict[str, bytes]], arch: str = "amd64", variant: str = ""
) -> dict[str, object]:
    """Write config, gzip layers and a manifest as blobs; return the manifest's descriptor."""
    diff_ids, layer_descs = [], []
    for files in layers:
        tar = layer_tar(files)
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        gz = gzip.compress(tar, mtime=0)
        layer_descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(root, gz)})
    platform = {"architecture": arch, "os": "linux", **({"variant": variant} if variant else {})}
    config = {**platform, "config": {"Cmd": ["/bin/sh"]}, "rootfs": {"type": "layers", "diff_ids": diff_ids}}
    config_desc = {"mediaType": OCI_CONFIG, **_blob(root, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": layer_descs}
    return {"mediaType": OCI_MANIFEST, **_blob(root, json.dumps(manifest).encode()), "platform": platform}


def make_layout(root: Path, ref: str, layers: list[dict[str, bytes]]) -> str:
    """An OCI layout holding one image named ``ref``; returns the manifest digest."""
    desc = write_image(root, layers)
    desc.pop("platform")
    _write_index(root, [{**desc, "annotations": {REF_NAME: ref}}])
    return str(desc["digest"])


def make_random_layout(root: Path, ref: str, sizes: list[int]) -> int:
    """An OCI layout holding image ``ref`` with one uncompressed layer of random bytes per size
    (nothing compresses: for benchmarks); returns the layers' total size in bytes."""
    layers = [{"mediaType": LAYER_TAR, **_blob(root, os.urandom(n))} for n in sizes]
    config = {
        "architecture": "amd64",
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }
    config_desc = {"mediaType": OCI_CONFIG, **_blob(root, json.dumps(config).encode())}
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": config_desc, "layers": layers}
    desc = {"mediaType": OCI_MANIFEST, **_blob(root, json.dumps(manifest).encode())}
    _write_index(root, [{**desc, "annotations": {REF_NAME: ref}}])
    return sum(sizes)


def make_index_layout(root: Path, ref: str, platforms: list[tuple[str, str]]) -> tuple[str, dict[str, str]]:
    """A layout whose image ``ref`` is an index over ``(arch, variant)`` platforms.

    Returns the index digest and each platform's manifest digest (keyed ``arch`` or ``arch/variant``).
    """
    entries, digests = [], {}
    for arch, variant in platforms:
        desc = write_image(root, [{"arch": f"{arch}{variant}".encode()}], arch, variant)
        entries.append(desc)
        digests[f"{arch}/{variant}" if variant else arch] = str(desc["digest"])
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    idx = _blob(root, json.dumps(index).encode())
    _write_index(root, [{"mediaType": OCI_INDEX, **idx, "annotations": {REF_NAME: ref}}])
    return str(idx["digest"]), digests


def _write_index(root: Path, manifests: list[dict[str, object]]) -> None:
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": manifests}))


def layout_entry(root: Path, ref: str) -> dict[str, object]:
    """The ``index.json`` entry named ``ref``."""
    index = json.loads((root / "index.json").read_text())
    [entry] = [m for m in index["manifests"] if m.get("annotations", {}).get(REF_NAME) == ref]
    return dict(entry)
