"""Where a key's passphrase comes from: a file, the environment, or a prompt.

The order is cosign's: ``--passphrase-file`` if given, else ``$COSIGN_PASSWORD`` if set (even empty),
else the terminal, asked twice when a new key is made.
"""

from __future__ import annotations

import os
from pathlib import Path

from berth.errors import InvalidArgument, NotFound

#: The environment variable cosign reads, so scripts written for cosign work unchanged.
ENVIRONMENT_VARIABLE = "COSIGN_PASSWORD"


def read_passphrase(passphrase_file: str | None, *, confirm: bool = False) -> bytes:
    """The passphrase (its first line when from a file, as skopeo's ``--sign-passphrase-file``)."""
    if passphrase_file is not None:
        try:
            text = Path(passphrase_file).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"passphrase file {passphrase_file} does not exist") from None
        return text.split(b"\n", 1)[0]
    from_env = os.environ.get(ENVIRONMENT_VARIABLE)
    if from_env is not None:
        return from_env.encode()
    import getpass

    first = getpass.getpass("Enter passphrase for the private key: ")
    if confirm and getpass.getpass("Enter the passphrase again: ") != first:
        raise InvalidArgument("the passphrases do not match")
    return first.encode()
