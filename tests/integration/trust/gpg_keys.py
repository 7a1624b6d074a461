"""A GPG key made for a test, in a GNUPGHOME of its own (its agent stopped afterwards)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GpgKey:
    """The key's GNUPGHOME, its fingerprint, and its armored public key file."""

    home: Path
    fingerprint: str
    public: Path


def _gpg(home: Path, *args: str) -> str:
    done = subprocess.run(["gpg", "--homedir", str(home), "--batch", *args],
                          capture_output=True, text=True, check=True, timeout=120)  # fmt: skip
    return done.stdout


@contextmanager
def gpg_key(name: str = "Berth Test") -> Iterator[GpgKey]:
    """A fresh key without passphrase; the home is short-pathed (the agent's socket lives there)."""
    home = Path(tempfile.mkdtemp(prefix="berth-gnupg-"))
    try:
        _gpg(
            home,
            "--passphrase",
            "",
            "--quick-gen-key",
            f"{name} <test@berth.invalid>",
            "default",
            "default",
            "never",
        )
        colons = _gpg(home, "--list-keys", "--with-colons")
        fingerprint = next(line.split(":")[9] for line in colons.splitlines() if line.startswith("fpr:"))
        public = home / "public.asc"
        public.write_text(_gpg(home, "--armor", "--export", fingerprint))
        yield GpgKey(home, fingerprint, public)
    finally:
        subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def lookaside_registries_d(directory: Path, lookaside: Path) -> Path:
    """Make ``directory`` a registries.d whose default lookaside (read and write) is ``lookaside``."""
    directory.mkdir(parents=True)
    (directory / "default.yaml").write_text(f"default-docker:\n  lookaside: {lookaside.as_uri()}\n")
    return directory
