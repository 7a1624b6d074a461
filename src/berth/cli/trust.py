"""Trust commands: signing keys, signatures, verification.

berth key generate [--output-prefix NAME] [--passphrase-file FILE]
berth sign --key KEY [--passphrase-file FILE] [--referrers] [--recursive] docker://REFERENCE | IMAGE
berth verify --key KEY docker://REFERENCE | IMAGE
"""

from __future__ import annotations

import argparse
import sys

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any


def _key_generate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from berth.errors import AlreadyExists
    from berth.fsutil import atomic_write
    from berth.trust import keys
    from berth.trust.passphrase import read_passphrase

    private, public = Path(f"{args.output_prefix}.private"), Path(f"{args.output_prefix}.pub")
    for path in (private, public):
        if path.exists():
            raise AlreadyExists(f"{path} already exists; not overwriting it")
    pair = keys.generate(read_passphrase(args.passphrase_file, confirm=True))
    atomic_write(private, pair.private_pem, mode=0o600)
    atomic_write(public, pair.public_pem)
    print(f"Private key written to {private}", file=sys.stderr)
    print(f"Public key written to {public}", file=sys.stderr)
    return 0


def _read_key_file(path: str, what: str) -> bytes:
    from berth.errors import NotFound

    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None


def load_signing_key(path: str, passphrase_file: str | None) -> Any:
    """The sigstore private key in the file ``path``, decrypted with the passphrase from
    ``passphrase_file`` (else ``$COSIGN_PASSWORD``, else a prompt)."""
    from berth.trust import keys
    from berth.trust.passphrase import read_passphrase

    data = _read_key_file(path, "private key")
    return keys.load_private_key(data, read_passphrase(passphrase_file), what=path)


def _open_store_image(args: argparse.Namespace, image: str) -> tuple[Any, str]:
    """The store and the canonical name of ``image`` (``berth:NAME``, or a name or ID as the
    image commands take it)."""
    from berth.distribution.transports.store import images_root
    from berth.engine.config import load_config
    from berth.image.catalog import find_image
    from berth.image.images import ImageStore

    store = ImageStore(images_root(load_config(args.root, getattr(args, "runroot", None)).root))
    try:
        found, record = find_image(store, image.removeprefix("berth:"))
    except BaseException:
        store.close()
        raise
    return store, (record or found.records[0]).name


def _remote(image: str) -> Any:
    """The reference of a ``docker://`` image, or None for an image in Berth's store."""
    from berth.spec.reference import Reference

    return Reference.parse(image.removeprefix("docker://")) if image.startswith("docker://") else None


def _sign(args: argparse.Namespace) -> int:
    import asyncio

    from berth.errors import Unsupported
    from berth.trust.signing import sign_image, sign_stored_image

    reference = _remote(args.image)
    if reference is None and args.referrers:
        raise Unsupported("--referrers applies to images in a registry (docker://REFERENCE)")
    key = load_signing_key(args.key, args.passphrase_file)
    if reference is None:
        store, name = _open_store_image(args, args.image)
        try:
            done = sign_stored_image(store, name, key, recursive=args.recursive)
        finally:
            store.close()
    else:
        from berth.cli.images_remote import _context

        ctx = _context(args)

        async def sign() -> list[Any]:
            async with ctx.client() as client:
                return await sign_image(
                    client, reference, key, referrers=args.referrers, recursive=args.recursive
                )

        done = asyncio.run(sign())
    for signed in done:
        print(f"signed {signed.digest} as {signed.identity}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from berth.trust import keys
    from berth.trust.signing import verify_image, verify_stored_image

    public = [keys.load_public_key(_read_key_file(path, "public key"), what=path) for path in args.key]
    reference = _remote(args.image)
    if reference is None:
        store, shown = _open_store_image(args, args.image)
        try:
            digest, payloads = verify_stored_image(store, shown, public)
        finally:
            store.close()
    else:
        from berth.cli.images_remote import _context

        ctx = _context(args)

        async def verify() -> Any:
            async with ctx.client() as client:
                return await verify_image(client, reference, public)

        digest, payloads = asyncio.run(verify())
        shown = str(reference)
    print(f"Verification for {shown} ({digest}): {len(payloads)} valid signature(s)", file=sys.stderr)
    for payload in payloads:
        print(json.dumps(json.loads(payload.to_json())))
    return 0


def sign_flags(p: argparse.ArgumentParser) -> None:
    """``push`` and ``copy``'s signing flags, as podman and skopeo spell them."""
    p.add_argument(
        "--sign-by", metavar="FINGERPRINT", help="sign the image with this GPG key (simple signing)"
    )
    p.add_argument(
        "--sign-by-sigstore-private-key", metavar="FILE", help="sign the image with this sigstore private key"
    )
    p.add_argument("--sign-passphrase-file", metavar="FILE", help="the sigstore private key's passphrase")
    p.add_argument("--remove-signatures", action="store_true", help="do not copy the source's signatures")


def copy_signers(args: argparse.Namespace, destination: str) -> list[Any]:
    """The signers ``--sign-by`` and ``--sign-by-sigstore-private-key`` ask for, each signing the
    copied manifest before it is published. Everything that can fail (the destination, the key,
    its passphrase, registries.d) is checked here, before copying."""
    if not (args.sign_by or args.sign_by_sigstore_private_key):
        return []
    from berth.trust.signing import sigstore_signer, simple_signer

    transport, reference = _signed_destination(destination)
    signers = [simple_signer(args.sign_by)] if args.sign_by else []
    if args.sign_by_sigstore_private_key:
        from berth.trust.errors import PolicyError
        from berth.trust.registries_d import load_registries_d

        registries = load_registries_d(args.registries_d)
        if transport == "docker" and not registries.use_sigstore_attachments(reference):
            raise PolicyError(f"{reference}: writing sigstore attachments is disabled by registries.d "
                              "(set use-sigstore-attachments: true)")  # fmt: skip
        key = load_signing_key(args.sign_by_sigstore_private_key, args.sign_passphrase_file)
        signers.append(sigstore_signer(key))
    return signers


def _signed_destination(destination: str) -> tuple[str, Any]:
    """The transport (``docker`` or ``berth``) and reference of a destination that keeps signatures."""
    from berth.errors import Unsupported
    from berth.spec.reference import Reference

    for transport, prefix in (("docker", "docker://"), ("berth", "berth:")):
        if destination.startswith(prefix):
            return transport, Reference.parse(destination.removeprefix(prefix))
    raise Unsupported(f"{destination}: only docker://REFERENCE and berth:REFERENCE images can be signed")


def _passphrase_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file", metavar="FILE",
        help="read the private key's passphrase from FILE (default: $COSIGN_PASSWORD, else a prompt)",
    )  # fmt: skip


def register(sub: Any) -> None:
    """Add ``key``, ``sign`` and ``verify``."""
    key = sub.add_parser("key", help="manage signing keys (sigstore/cosign format)")
    key_sub = key.add_subparsers(dest="key_command", metavar="COMMAND", required=True)
    gen = key_sub.add_parser("generate", help="make an encrypted ECDSA P-256 key pair")
    gen.add_argument(
        "--output-prefix", default="cosign", metavar="NAME",
        help="write NAME.private and NAME.pub (default: cosign)",
    )  # fmt: skip
    _passphrase_flag(gen)
    gen.set_defaults(handler=_key_generate)

    from berth.cli.images_remote import _registry_flags

    sign = sub.add_parser("sign", help="sign an image in a registry or in Berth's store (cosign's format)")
    sign.add_argument("--key", required=True, metavar="FILE", help="encrypted sigstore private key")
    _passphrase_flag(sign)
    sign.add_argument("--referrers", action="store_true", help="also store it as an OCI 1.1 referrer")
    sign.add_argument("--recursive", action="store_true", help="sign an index and every manifest in it")
    sign.add_argument("image", metavar="IMAGE")
    _registry_flags(sign)
    sign.set_defaults(handler=_sign)

    verify = sub.add_parser("verify", help="verify an image's signatures with a public key")
    verify.add_argument(
        "--key", required=True, action="append", metavar="FILE", help="public key (repeat for several)"
    )
    verify.add_argument("image", metavar="IMAGE")
    _registry_flags(verify)
    verify.set_defaults(handler=_verify)
