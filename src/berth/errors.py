"""The one error hierarchy of Berth.

Every failure a user can cause or meet is a ``BerthError``; front ends print ``str(err)`` as one line
and exit non-zero (tracebacks only with ``--debug``).
"""

from __future__ import annotations


class BerthError(Exception):
    """Root of every error Berth raises on purpose."""

    #: Process exit status a CLI should use for this error.
    exit_code: int = 1


class InvalidArgument(BerthError):
    """A value given by the user (flag, reference, config field) is malformed or out of range."""


class NotFound(BerthError):
    """A named object (container, image, blob, bundle) does not exist."""


class AlreadyExists(BerthError):
    """An object with this name or id already exists."""


class InvalidState(BerthError):
    """The operation is not allowed in the object's current state (e.g. kill of a stopped container)."""


class DigestMismatch(BerthError):
    """Content does not hash to, or is not the size of, what its descriptor promised."""


class Unsupported(BerthError):
    """A feature the spec allows but this host or build cannot provide."""


class NoSpace(BerthError):
    """The filesystem holding Berth's data is full (ENOSPC) or over quota (EDQUOT)."""
