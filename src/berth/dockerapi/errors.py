"""Errors as Docker gives them: a status code and ``{"message": ...}``."""

from __future__ import annotations

from berth.errors import AlreadyExists, BerthError, InvalidArgument, InvalidState, NotFound, Unsupported


class ApiError(Exception):
    """A request the API refuses, with Docker's status code for it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


#: The status dockerd answers for each kind of engine error (errdefs: NotFound 404, Conflict 409,
#: InvalidParameter 400, NotImplemented 501); anything else is a server error.
_STATUS = (
    (NotFound, 404),
    (AlreadyExists, 409),
    (InvalidState, 409),
    (InvalidArgument, 400),
    (Unsupported, 501),
)


def status_of(err: BerthError) -> int:
    """Docker's HTTP status for engine error ``err``."""
    for kind, status in _STATUS:
        if isinstance(err, kind):
            return status
    return 500
