"""Per-registry TLS material, as containers-certs.d(5) and Docker's certs.d lay it out.

A directory holds ``*.crt`` files (CA certificates trusted besides the system's) and pairs of
``NAME.cert`` / ``NAME.key`` (a client certificate and its key). Berth reads ``--cert-dir`` if
given, else ``/etc/berth/certs.d/HOST[:PORT]``, ``/etc/containers/certs.d/HOST[:PORT]`` and
``/etc/docker/certs.d/HOST[:PORT]``, the first that exists.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from berth.errors import InvalidArgument

CERTS_D = (Path("/etc/berth/certs.d"), Path("/etc/containers/certs.d"), Path("/etc/docker/certs.d"))


def cert_dir_for(host: str, cert_dir: Path | None = None, roots: tuple[Path, ...] = CERTS_D) -> Path | None:
    """The directory of TLS material for ``host``: ``cert_dir``, else the first certs.d entry."""
    if cert_dir is not None:
        return cert_dir
    for root in roots:
        candidate = root / host
        if candidate.is_dir():
            return candidate
    return None


def tls_context(directory: Path | None) -> ssl.SSLContext | None:
    """A verifying context with the directory's CAs and client certificate; None without material."""
    if directory is None:
        return None
    cas = sorted(directory.glob("*.crt"))
    certs = sorted(directory.glob("*.cert"))
    if not cas and not certs:
        return None
    context = ssl.create_default_context()
    try:
        for ca in cas:
            context.load_verify_locations(cafile=str(ca))
        for cert in certs:
            key = cert.with_suffix(".key")
            if not key.exists():
                raise InvalidArgument(f"client certificate {cert} has no key {key.name} beside it")
            context.load_cert_chain(str(cert), str(key))
    except (ssl.SSLError, OSError) as err:
        raise InvalidArgument(f"cannot load TLS material from {directory}: {err}") from None
    return context
