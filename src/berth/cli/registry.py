"""``berth registry``: serve an OCI Distribution Spec registry, collect its garbage."""

from __future__ import annotations

import argparse

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def register(subparsers: Any) -> None:
    """Add ``berth registry serve|gc|keygen|htpasswd``."""
    parser = subparsers.add_parser("registry", help="run an OCI distribution registry")
    sub = parser.add_subparsers(dest="registry_command", metavar="COMMAND", required=True)

    serve = sub.add_parser("serve", help="serve a registry")
    serve.add_argument("--addr", default=None, help="HOST:PORT to listen on (default 127.0.0.1:5000)")
    serve.add_argument("--root", dest="registry_root", required=True, help="storage directory")
    serve.add_argument("--config", help="TOML or JSON settings file")
    serve.add_argument("--htpasswd", help="htpasswd file (bcrypt) for Basic authentication")
    serve.add_argument("--tls-cert", help="TLS certificate (PEM)")
    serve.add_argument("--tls-key", help="TLS private key (PEM)")
    serve.add_argument(
        "--allow-sparse",
        action="store_true",
        default=None,
        help="accept manifests that name blobs or manifests the repository lacks",
    )
    serve.set_defaults(handler=_serve)

    gc = sub.add_parser("gc", help="delete unreferenced blobs and abandoned uploads")
    gc.add_argument("--root", dest="registry_root", required=True, help="storage directory")
    gc.add_argument("--grace", type=float, default=3600.0, help="keep blobs younger than this (seconds)")
    gc.add_argument(
        "--upload-max-age", type=float, default=86400.0, help="remove uploads older than this (seconds)"
    )
    gc.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    gc.set_defaults(handler=_gc)

    keygen = sub.add_parser("keygen", help="write a P-256 key for signing registry tokens")
    keygen.add_argument("path")
    keygen.set_defaults(handler=_keygen)

    htpasswd = sub.add_parser("htpasswd", help="print an htpasswd line (bcrypt) for a user")
    htpasswd.add_argument("user")
    htpasswd.add_argument("password")
    htpasswd.set_defaults(handler=_htpasswd)


def _serve(args: argparse.Namespace) -> int:
    from berth.distribution.server import build_config, read_config_file, serve

    values = read_config_file(args.config) if args.config else {}
    config = build_config(
        args.registry_root,
        values,
        addr=args.addr,
        htpasswd=args.htpasswd,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        allow_sparse=args.allow_sparse,
    )
    serve(config)
    return 0


def _gc(args: argparse.Namespace) -> int:
    import asyncio

    from berth.distribution.storage import FilesystemDriver, RegistryStore, collect_garbage

    store = RegistryStore(FilesystemDriver(args.registry_root))
    report = asyncio.run(collect_garbage(store, args.grace, args.upload_max_age, args.dry_run))
    verb = "would delete" if args.dry_run else "deleted"
    for digest in report.deleted_blobs:
        print(f"{verb} blob {digest}")
    for upload in report.deleted_uploads:
        print(f"deleted upload {upload}")
    print(
        f"{report.marked} blobs in use; {verb} {len(report.deleted_blobs)} blobs "
        f"({report.freed_bytes} bytes), {len(report.deleted_uploads)} abandoned uploads"
    )
    return 0


def _keygen(args: argparse.Namespace) -> int:
    from berth.distribution.auth import generate_key

    generate_key(args.path)
    return 0


def _htpasswd(args: argparse.Namespace) -> int:
    from berth.distribution.auth import hash_password

    print(f"{args.user}:{hash_password(args.password)}")
    return 0
