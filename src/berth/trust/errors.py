"""Errors of the trust layer, each a ``BerthError`` with one line naming the problem."""

from __future__ import annotations

from berth.errors import BerthError, InvalidArgument


class BadKey(InvalidArgument):
    """A key file is missing, corrupt, of an unsupported kind, or its passphrase is wrong."""


class SignatureError(BerthError):
    """An image has no acceptable signature (none at all, wrong key, digest or identity mismatch)."""


class PolicyError(InvalidArgument):
    """A policy.json or registries.d file does not parse or names something unknown."""


class PolicyRejected(BerthError):
    """The signature policy refuses an image."""
