"""Which distribution an image is: os-release(5), read from the image's kept files."""

from __future__ import annotations

from berth.inventory.layerfiles import KeptFile

#: os-release(5): /etc/os-release, falling back to /usr/lib/os-release (in Debian the first is a
#: symbolic link to the second, and links are not kept, so both are read).
PATHS = ("etc/os-release", "usr/lib/os-release")


def distro(files: dict[str, KeptFile]) -> tuple[str, str]:
    """``ID`` and ``VERSION_ID`` of the image's os-release, or empty strings."""
    for path in PATHS:
        kept = files.get(path)
        if kept is not None:
            fields = {}
            for line in kept.data.decode("utf-8", "replace").splitlines():
                key, sep, value = line.partition("=")
                if sep:
                    fields[key.strip()] = value.strip().strip("\"'")
            return fields.get("ID", ""), fields.get("VERSION_ID", "")
    return "", ""
