"""``RUN --mount=...`` options (Dockerfile reference, "RUN --mount"): bind, cache, tmpfs, secret.

parse_mount("type=cache,target=/root/.cache,sharing=locked")
# Mount(type="cache", target="/root/.cache", sharing="locked", ...)
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

_TYPES = ("bind", "cache", "tmpfs", "secret")
_SHARING = ("shared", "private", "locked")
_ALIASES = {"dst": "target", "destination": "target", "src": "source", "ro": "readonly"}
#: The keys each type takes (beyond ``type``).
_KEYS = {
    "bind": {"target", "source", "from", "readonly", "rw"},
    "cache": {"target", "source", "from", "readonly", "rw", "id", "sharing", "mode", "uid", "gid"},
    "tmpfs": {"target", "size"},
    "secret": {"target", "id", "required", "mode", "uid", "gid", "env"},
}
_FLAGS = ("readonly", "rw", "required")


@dataclass(frozen=True, slots=True)
class Mount:
    """One ``--mount``; paths and ids as written, modes and ids checked."""

    type: str
    target: str
    source: str | None = None
    from_stage: str | None = None
    readonly: bool = False
    id: str | None = None
    sharing: str = "shared"
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    required: bool = False
    size: int | None = None


def parse_mount(text: str) -> Mount:
    """``text`` (``key=value,...``) as a ``Mount``; ``ValueError`` naming the bad part."""
    options: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key = _ALIASES.get(key.strip().lower(), key.strip().lower())
        if not sep and key not in _FLAGS:
            raise ValueError(f"{part!r} is not KEY=VALUE")
        options[key] = value if sep else "true"
    kind = options.pop("type", "bind")
    if kind not in _TYPES:
        raise ValueError(f"unsupported type {kind!r}: want one of {', '.join(_TYPES)}")
    unknown = sorted(set(options) - _KEYS[kind])
    if unknown:
        raise ValueError(f"unknown option {unknown[0]!r} for type={kind}")
    target = options.get("target", "")
    if kind == "secret":
        ident = options.get("id") or posixpath.basename(target)
        if not ident:
            raise ValueError("type=secret needs id= or target=")
        target = target or f"/run/secrets/{ident}"
        options["id"] = ident
    if not target:
        raise ValueError(f"type={kind} needs target=")
    sharing = options.get("sharing", "shared")
    if sharing not in _SHARING:
        raise ValueError(f"sharing={sharing}: want one of {', '.join(_SHARING)}")
    readonly = _flag(options, "readonly", kind == "bind") and not _flag(options, "rw", False)
    return Mount(
        type=kind,
        target=target,
        source=options.get("source"),
        from_stage=options.get("from"),
        readonly=readonly,
        id=options.get("id"),
        sharing=sharing,
        mode=_number(options, "mode", 8),
        uid=_number(options, "uid", 10),
        gid=_number(options, "gid", 10),
        required=_flag(options, "required", False),
        size=_number(options, "size", 10),
    )


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise ValueError(f"{key}={value}: want true or false")
    return value.lower() == "true"


def _number(options: dict[str, str], key: str, base: int) -> int | None:
    value = options.get(key)
    if value is None:
        return None
    try:
        return int(value, base)
    except ValueError:
        raise ValueError(f"{key}={value}: not a {'octal ' if base == 8 else ''}number") from None
