"""Facts about an image's files for the policy input, noted while its layers are read once.

Modes (CIS Docker Benchmark 4.8, setuid and setgid; world-writable files) come from every
regular file's tar header. Secrets (CIS 4.10) are looked for in the data of regular files of at
most ``MAX_SCANNED`` bytes: PEM private keys, AWS access key IDs and secret keys, and Google Cloud
service-account key files.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Callable

from berth.inventory.layerfiles import Watch

#: Larger files are not searched for secrets (keys and credential files are small).
MAX_SCANNED = 256 << 10

_SECRETS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    (
        "private-key",
        re.compile(rb"-----BEGIN (?:(?:RSA|DSA|EC|OPENSSH|ENCRYPTED|PGP) )?PRIVATE KEY(?: BLOCK)?-----"),
    ),
    # AWS IAM identifiers: AKIA for long-term keys, ASIA for temporary ones.
    ("aws-access-key-id", re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("aws-secret-access-key", re.compile(rb"(?i)aws_secret_access_key\s*[=:]\s*[\"']?[A-Za-z0-9/+=]{40}")),
    ("gcp-service-account-key", re.compile(rb"\"type\"\s*:\s*\"service_account\"")),
)
# One pass over the data tells whether any of them may be there; most files have none.
_ANY = re.compile(rb"PRIVATE KEY|A[KS]IA[A-Z0-9]{16}|(?i:aws_secret_access_key)|service_account")


def secrets_in(data: bytes) -> tuple[str, ...]:
    """The kinds of secret ``data`` holds."""
    if _ANY.search(data) is None:
        return ()
    return tuple(kind for kind, pattern in _SECRETS if pattern.search(data))


def note(path: str, mode: int, size: int, read: Callable[[], bytes]) -> tuple[str, ...]:
    """What matters to the policy about one regular file."""
    facts = []
    if mode & stat.S_ISUID:
        facts.append("setuid")
    if mode & stat.S_ISGID:
        facts.append("setgid")
    if mode & stat.S_IWOTH:
        facts.append("world-writable")
    if 0 < size <= MAX_SCANNED:
        facts.extend(f"secret:{kind}" for kind in secrets_in(read()))
    return tuple(facts)


WATCH = Watch(note)
