"""Content digests (image-spec descriptor.md#digests).

A digest is ``algorithm:encoded``. Berth computes and verifies the registered algorithms sha256 and
sha512; other well-formed algorithms parse but cannot be verified.
"""

from __future__ import annotations

import re

from berth.errors import InvalidArgument
from berth.spec.records import record

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

# descriptor.md#digests: algorithm-component ::= [a-z0-9]+, algorithm-separator ::= [+._-],
# encoded ::= [a-zA-Z0-9=_-]+
_GRAMMAR = re.compile(r"^([a-z0-9]+(?:[+._-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)\Z")
# descriptor.md#registered-algorithms: lowercase hex of the full hash.
_REGISTERED = {"sha256": re.compile(r"^[a-f0-9]{64}\Z"), "sha512": re.compile(r"^[a-f0-9]{128}\Z")}

SUPPORTED_ALGORITHMS = tuple(_REGISTERED)


#: Up to this size, content is hashed with ``sha256_hex``; larger content goes through OpenSSL.
_SMALL = 1 << 16


@record(frozen=True, order=True)
class Digest:
    """A parsed, validated digest such as ``sha256:e3b0c4...``."""

    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``text``; raise ``InvalidArgument`` naming the problem if it is not a digest."""
        match = _GRAMMAR.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidArgument(f"invalid digest {text!r}: want algorithm:encoded")
        algorithm, encoded = match.groups()
        pattern = _REGISTERED.get(algorithm)
        if pattern is not None and not pattern.match(encoded):
            raise InvalidArgument(f"invalid digest {text!r}: bad {algorithm} encoding")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of ``data``."""
        if algorithm == "sha256" and len(data) <= _SMALL:  # manifests and configs, on every start
            return cls(algorithm, sha256_hex(data))
        return cls(algorithm, new_hasher(algorithm).update_and_hex(data))

    @property
    def verifiable(self) -> bool:
        """Whether Berth can compute this digest's algorithm."""
        return self.algorithm in _REGISTERED

    def hasher(self) -> Hasher:
        """A fresh hasher for this digest's algorithm."""
        return new_hasher(self.algorithm)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of a small ``data`` (a manifest, a config, a chain ID's input) in hex.

    CPython's built-in SHA-256 hashes a few kilobytes in microseconds and loads at once, where
    ``hashlib`` loads OpenSSL (~2 ms, on every container start that reads a manifest); other
    interpreters get ``hashlib``'s.
    """
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]
    except ImportError:
        from hashlib import sha256
    return str(sha256(data).hexdigest())


class Hasher:
    """An incremental hasher that yields a ``Digest``."""

    def __init__(self, algorithm: str) -> None:
        import hashlib  # its OpenSSL backend costs ~2 ms to load; a container start hashes no blob

        self.algorithm = algorithm
        self._h: Any = hashlib.new(algorithm)

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed more content."""
        self._h.update(data)

    def update_and_hex(self, data: bytes) -> str:
        """Feed ``data`` and return the hex digest so far."""
        self._h.update(data)
        return str(self._h.hexdigest())

    def digest(self) -> Digest:
        """The digest of everything fed so far."""
        return Digest(self.algorithm, self._h.hexdigest())


def new_hasher(algorithm: str = "sha256") -> Hasher:
    """A hasher for a registered algorithm; ``InvalidArgument`` for any other."""
    if algorithm not in _REGISTERED:
        raise InvalidArgument(f"unsupported digest algorithm {algorithm!r}")
    return Hasher(algorithm)
