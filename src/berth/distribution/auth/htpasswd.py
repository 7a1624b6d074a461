"""htpasswd files of bcrypt hashes (Apache's ``htpasswd -B``), as the distribution registry uses."""

from __future__ import annotations

import os
from pathlib import Path

from berth.errors import InvalidArgument


class Htpasswd:
    """Users and their bcrypt hashes, read from an htpasswd file."""

    def __init__(self, entries: dict[str, bytes]) -> None:
        self._entries = entries

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Htpasswd:
        """Read ``user:hash`` lines; only bcrypt hashes (``$2a$``, ``$2b$``, ``$2y$``) are accepted."""
        entries: dict[str, bytes] = {}
        for number, line in enumerate(Path(path).read_text().splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not hashed.startswith(("$2a$", "$2b$", "$2y$")):
                raise InvalidArgument(f"{path}:{number}: not a 'user:bcrypt-hash' line")
            entries[user] = hashed.encode()
        return cls(entries)

    def verify(self, user: str, password: str) -> bool:
        """Whether ``password`` is ``user``'s."""
        import bcrypt

        hashed = self._entries.get(user)
        if hashed is None:
            return False
        # bcrypt's own $2b$ is the same algorithm as Apache's $2y$.
        if hashed.startswith(b"$2y$"):
            hashed = b"$2b$" + hashed[4:]
        try:
            return bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False


def hash_password(password: str, rounds: int = 12) -> str:
    """A bcrypt hash of ``password`` for an htpasswd line (``rounds``: bcrypt's log2 cost)."""
    import bcrypt

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()
