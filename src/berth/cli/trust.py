"""Trust commands: signing keys, signatures, verification.

berth key generate [--output-prefix NAME] [--passphrase-file FILE]
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


def _passphrase_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--passphrase-file", metavar="FILE",
        help="read the private key's passphrase from FILE (default: $COSIGN_PASSWORD, else a prompt)",
    )  # fmt: skip


def register(sub: Any) -> None:
    """Add ``key``."""
    key = sub.add_parser("key", help="manage signing keys (sigstore/cosign format)")
    key_sub = key.add_subparsers(dest="key_command", metavar="COMMAND", required=True)
    gen = key_sub.add_parser("generate", help="make an encrypted ECDSA P-256 key pair")
    gen.add_argument(
        "--output-prefix", default="cosign", metavar="NAME",
        help="write NAME.private and NAME.pub (default: cosign)",
    )  # fmt: skip
    _passphrase_flag(gen)
    gen.set_defaults(handler=_key_generate)
