"""Trust commands: signing keys, signatures, verification.

berth key generate [--output-prefix NAME] [--passphrase-file FILE]
berth sign --key KEY [--passphrase-file FILE] [--referrers] [--recursive] docker://REFERENCE
berth verify --key KEY docker://REFERENCE
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


def _registry_reference(image: str, what: str = "signed and verified") -> Any:
    from berth.errors import Unsupported
    from berth.spec.reference import Reference

    transport, sep, rest = image.partition("://")
    if not sep or transport != "docker":
        raise Unsupported(f"{image}: only docker://REFERENCE images can be {what}")
    return Reference.parse(rest)


def _read_key_file(path: str, what: str) -> bytes:
    from berth.errors import NotFound

    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        raise NotFound(f"{what} {path} does not exist") from None


def _sign(args: argparse.Namespace) -> int:
    import asyncio

    from berth.cli.images_remote import _context
    from berth.trust import keys
    from berth.trust.passphrase import read_passphrase
    from berth.trust.signing import sign_image

    reference = _registry_reference(args.image)
    data = _read_key_file(args.key, "private key")
    key = keys.load_private_key(data, read_passphrase(args.passphrase_file), what=args.key)
    ctx = _context(args)

    async def sign() -> list[Any]:
        async with ctx.client() as client:
            return await sign_image(
                client, reference, key, referrers=args.referrers, recursive=args.recursive
            )

    for signed in asyncio.run(sign()):
        print(f"signed {signed.digest} as {signed.identity}", file=sys.stderr)
    return 0


def _verify(args: argparse.Namespace) -> int:
    import asyncio
    import json

    from berth.cli.images_remote import _context
    from berth.trust import keys
    from berth.trust.signing import verify_image

    reference = _registry_reference(args.image)
    public = [keys.load_public_key(_read_key_file(path, "public key"), what=path) for path in args.key]
    ctx = _context(args)

    async def verify() -> Any:
        async with ctx.client() as client:
            return await verify_image(client, reference, public)

    digest, payloads = asyncio.run(verify())
    print(f"Verification for {reference} ({digest}): {len(payloads)} valid signature(s)", file=sys.stderr)
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


def copy_signer(args: argparse.Namespace, destination: str) -> Any:
    """What signs the image once ``push``/``copy`` has written it to ``destination``: a function
    of the pushed manifest's digest, or None without signing flags. Everything that can fail
    (the destination, the key, its passphrase, registries.d) is checked here, before copying."""
    if not (args.sign_by or args.sign_by_sigstore_private_key):
        return None
    from berth.trust.registries_d import load_registries_d

    reference = _registry_reference(destination, "signed")
    registries = load_registries_d(getattr(args, "registries_d", None))
    sigstore_key = None
    if args.sign_by_sigstore_private_key:
        from berth.trust import keys
        from berth.trust.errors import PolicyError
        from berth.trust.passphrase import read_passphrase

        if not registries.use_sigstore_attachments(reference):
            raise PolicyError(f"{reference}: writing sigstore attachments is disabled by registries.d "
                              "(set use-sigstore-attachments: true)")  # fmt: skip
        path = args.sign_by_sigstore_private_key
        passphrase = read_passphrase(args.sign_passphrase_file)
        sigstore_key = keys.load_private_key(_read_key_file(path, "private key"), passphrase, what=path)

    def sign(digest: Any) -> None:
        import asyncio

        from berth.cli.images_remote import _context, _side
        from berth.trust.signing import sign_image, sign_simple

        if args.sign_by:
            where = sign_simple(reference, digest, args.sign_by, registries)
            print(f"Signature stored in {where}", file=sys.stderr)
        if sigstore_key is not None:
            ctx = _context(_side(args, "dest") if hasattr(args, "dest_tls_verify") else args)

            async def attach() -> None:
                async with ctx.client() as client:
                    await sign_image(client, reference, sigstore_key)

            asyncio.run(attach())

    return sign


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

    sign = sub.add_parser("sign", help="sign an image in a registry (cosign's format)")
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
