"""API versions: which a request asks for (``/v1.43/...``), and whether the service speaks it."""

from __future__ import annotations

from berth.dockerapi.errors import ApiError

#: The newest version served, and what an unversioned request gets (as dockerd does).
MAX_VERSION = (1, 44)
#: The oldest: dockerd 25's minimum; clients that pin an old version (docker-compose 1.29 asks for
#: 1.25 to 1.38 by file format) work, since Berth answers with the newer shapes they also accept.
MIN_VERSION = (1, 24)


def format_version(version: tuple[int, int]) -> str:
    """``(1, 44)`` as ``"1.44"``."""
    return f"{version[0]}.{version[1]}"


def parse_version(text: str) -> tuple[int, int]:
    """The version a request path names, checked against what the service speaks (Docker's errors:
    status 400, "client version ... is too new/old")."""
    major, dot, minor = text.partition(".")
    if not (dot and major.isdigit() and minor.isdigit()):
        raise ApiError(400, f"invalid API version {text!r}: want MAJOR.MINOR")
    version = (int(major), int(minor))
    if version > MAX_VERSION:
        raise ApiError(
            400,
            f"client version {text} is too new. "
            f"Maximum supported API version is {format_version(MAX_VERSION)}",
        )
    if version < MIN_VERSION:
        raise ApiError(
            400,
            f"client version {text} is too old. Minimum supported API version is "
            f"{format_version(MIN_VERSION)}, please upgrade your client to a newer version",
        )
    return version
