"""GPG simple signing through the host's gpg, as skopeo and podman sign (containers-signature(5)).

A simple signature is an OpenPGP signed message (not detached) whose content is the simple-signing
payload with ``critical.type`` "atomic container signature". Verifying imports the policy's keys
into a throwaway GNUPGHOME, so the user's keyring is neither read nor changed, and accepts only a
good signature by one of those keys. Signing uses the user's keyring (``GNUPGHOME``) and agent.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from berth.errors import BerthError, InvalidArgument
from berth.trust.errors import BadKey, SignatureError

_STATUS = "[GNUPG:] "


@dataclass(frozen=True)
class Verified:
    """A good signature: the signed bytes and the fingerprint of the key that made it."""

    content: bytes
    fingerprint: str


def _gpg(
    args: Sequence[str], data: bytes | None = None, home: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    cmd = ["gpg", "--batch", "--no-tty", "--status-fd", "2"]
    if home is not None:
        cmd += ["--homedir", home, "--no-autostart"]
    try:
        return subprocess.run([*cmd, *args], input=data, capture_output=True, check=False)
    except FileNotFoundError:
        raise BerthError("gpg is not installed: GPG simple signing needs the host's gpg") from None


def _status(stderr: bytes, keyword: str) -> list[list[str]]:
    lines = stderr.decode(errors="replace").splitlines()
    return [line[len(_STATUS) :].split()[1:] for line in lines if line.startswith(_STATUS + keyword + " ")]


def _import_keys(home: str, keys: Sequence[bytes]) -> None:
    for data in keys:
        done = _gpg(["--import"], data, home)
        if not _status(done.stderr, "IMPORT_OK"):
            raise BadKey("signedBy: no GPG public key could be imported from the policy's key")


def verify(blob: bytes, keys: Sequence[bytes]) -> Verified:
    """The content of the signed message ``blob`` if one of ``keys`` (each an armored or binary
    public key file) made a good signature over it; else ``SignatureError``."""
    with tempfile.TemporaryDirectory(prefix="berth-gpg-") as home:
        _import_keys(home, keys)
        sig = Path(home, "signature")
        sig.write_bytes(blob)
        done = _gpg(["--output", "-", "--decrypt", str(sig)], home=home)
    valid = _status(done.stderr, "VALIDSIG")
    if done.returncode != 0 or not valid:
        if _status(done.stderr, "NO_PUBKEY") or _status(done.stderr, "ERRSIG"):
            raise SignatureError("signature not made by the given key (wrong key)")
        if _status(done.stderr, "BADSIG"):
            raise SignatureError("invalid GPG signature (the signed content was changed)")
        raise SignatureError("not a valid GPG signature")
    # VALIDSIG's last field is the primary key's fingerprint (the signing key may be a subkey).
    return Verified(done.stdout, valid[0][-1])


def sign(content: bytes, key_id: str) -> bytes:
    """A signed message over ``content`` by the secret key ``key_id`` in the user's keyring."""
    done = _gpg(["--local-user", key_id, "--output", "-", "--sign"], content)
    if done.returncode != 0 or not _status(done.stderr, "SIG_CREATED"):
        problem = next(
            (ln for ln in done.stderr.decode(errors="replace").splitlines() if not ln.startswith(_STATUS)),
            "",
        )
        raise InvalidArgument(f"signing with GPG key {key_id} failed: {problem.removeprefix('gpg: ')}")
    return done.stdout
