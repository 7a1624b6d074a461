"""Resolve a container's ``User`` (image-spec config.md#properties) through the image's own files.

``user``, ``uid``, ``user:group``, ``uid:gid`` and mixed forms are looked up in the root filesystem's
``/etc/passwd`` and ``/etc/group`` (never the host's), as image-spec conversion.md asks: the names
belong to the image. Supplementary groups are the groups that list the user as a member.
"""

from __future__ import annotations

from pathlib import Path

from berth.errors import InvalidArgument
from berth.spec.records import field, record


@record(frozen=True)
class ResolvedUser:
    """A runtime-spec ``process.user`` (config.md#user) plus the home directory."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...] = field(default_factory=tuple)
    home: str = "/"


def _entries(rootfs: Path, name: str) -> list[list[str]]:
    path = rootfs / "etc" / name
    try:
        text = path.read_text(errors="replace")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return []
    return [line.split(":") for line in text.splitlines() if line and not line.startswith("#")]


def resolve_user(rootfs: Path, spec: str) -> ResolvedUser:
    """Resolve ``spec`` (``""`` means root) against ``rootfs``; unknown names are an error."""
    user, _, group = (spec or "0").partition(":")
    passwd = [e for e in _entries(rootfs, "passwd") if len(e) >= 7]
    entry = next((e for e in passwd if e[0] == user or (user.isdigit() and e[2] == user)), None)
    if user.isdigit():
        uid = int(user)
        gid = int(entry[3]) if entry else 0
    elif entry is not None:
        uid, gid = int(entry[2]), int(entry[3])
    else:
        raise InvalidArgument(f"unable to find user {user}: no matching entries in the image's /etc/passwd")
    home = entry[5] if entry else "/"
    groups = [e for e in _entries(rootfs, "group") if len(e) >= 4]
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            match = next((e for e in groups if e[0] == group), None)
            if match is None:
                raise InvalidArgument(
                    f"unable to find group {group}: no matching entries in the image's /etc/group"
                )
            gid = int(match[2])
    name = entry[0] if entry else None
    extra = tuple(
        sorted({int(e[2]) for e in groups if name and name in e[3].split(",") and int(e[2]) != gid})
    )
    # With an explicit group the user asked for exactly that group (podman and docker agree).
    return ResolvedUser(uid, gid, () if group else extra, home)


def resolve_groups(rootfs: Path, specs: list[str]) -> list[int]:
    """The GIDs of ``--group-add`` ``specs``: numbers as they are, names from ``rootfs``'s
    /etc/group; an unknown name is an error."""
    groups = {e[0]: int(e[2]) for e in _entries(rootfs, "group") if len(e) >= 3 and e[2].isdigit()}
    gids = []
    for spec in specs:
        if spec.isdigit():
            gids.append(int(spec))
        elif spec in groups:
            gids.append(groups[spec])
        else:
            raise InvalidArgument(
                f"unable to find group {spec}: no matching entries in the image's /etc/group"
            )
    return gids
