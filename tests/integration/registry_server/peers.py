"""Helpers for tests that drive real peers (skopeo, podman) against ``berth registry serve``."""

from __future__ import annotations

import datetime
import gzip
import hashlib
import io
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(addr: str, root: Path, *args: str) -> list[str]:
    """The command line of ``berth registry serve`` on ``addr`` with its storage under ``root``."""
    return [
        sys.executable,
        "-m",
        "berth.cli.main",
        "registry",
        "serve",
        "--addr",
        addr,
        "--root",
        str(root),
        *args,
    ]


@contextmanager
def serve_cli(root: Path, *args: str) -> Iterator[str]:
    """Run ``berth registry serve`` as a child process on a free port; yield ``127.0.0.1:PORT``."""
    addr = f"127.0.0.1:{free_port()}"
    # The server logs every request: into a file, as a pipe nobody reads would fill and stall it.
    with tempfile.TemporaryFile() as log:
        yield from _serve(addr, serve_command(addr, root, *args), log, "--tls-cert" in args)


def _serve(addr: str, command: list[str], log: IO[bytes], tls: bool) -> Iterator[str]:
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if not tls:
                    urllib.request.urlopen(f"http://{addr}/healthz", timeout=2).read()
                else:
                    socket.create_connection(tuple(addr.split(":")), timeout=2).close()  # type: ignore[arg-type]
                break
            except OSError as err:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise RuntimeError(f"registry did not start: {log.read().decode()}") from err
                time.sleep(0.1)
        yield addr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _blob(layout: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256").mkdir(parents=True, exist_ok=True)
    (layout / "blobs/sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def write_oci_layout(layout: Path, tag: str = "v1", files: dict[str, bytes] | None = None) -> str:
    """Write a one-layer OCI image layout (image-spec image-layout.md); return the manifest digest."""
    files = files or {"hello.txt": b"hello from berth\n"}
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    layer_tar = raw.getvalue()
    layer = gzip.compress(layer_tar, mtime=0)
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["/bin/sh"]},
            "rootfs": {"type": "layers", "diff_ids": [f"sha256:{hashlib.sha256(layer_tar).hexdigest()}"]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(layout, config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(layout, layer)}],
        }
    ).encode()
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **_blob(layout, manifest)}
    index = {
        "schemaVersion": 2,
        "manifests": [{**manifest_desc, "annotations": {"org.opencontainers.image.ref.name": tag}}],
    }
    (layout / "index.json").write_text(json.dumps(index))
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    return str(manifest_desc["digest"])


def write_self_signed(cert: Path, key: Path) -> None:
    """Write a self-signed P-256 certificate for 127.0.0.1 (valid for a day) and its PKCS#8 key."""
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def run(*command: str, env: dict[str, str] | None = None) -> str:
    """Run a peer; fail with its stderr if it fails."""
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stderr}")
    return result.stdout
