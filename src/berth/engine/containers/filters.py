"""``ps --filter KEY=VALUE``: podman's container filters.

Values of one key are alternatives, different keys must all match (as podman and Docker combine
them). ``status`` and ``exited`` also select containers that are not running, without ``-a``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from berth.engine.metadata import CONFIGURED, CREATED, EXITED, PAUSED, RUNNING, STOPPED, ContainerRecord
from berth.errors import InvalidArgument
from berth.spec.reference import Reference

#: podman's status words and the engine states each stands for.
_STATUS = {"created": (CONFIGURED, CREATED), "running": (RUNNING,), "paused": (PAUSED,),
           "exited": (EXITED, STOPPED)}  # fmt: skip
KEYS = ("id", "name", "label", "status", "exited", "ancestor", "network", "pod")


def group_filters(
    texts: list[str], keys: tuple[str, ...], problem: Callable[[str, str], str | None]
) -> dict[str, list[str]]:
    """``KEY=VALUE`` flags grouped by key, each key one of ``keys``; ``problem(key, value)`` says
    what is wrong with a value (None: nothing). One clear error for the first bad flag."""
    filters: dict[str, list[str]] = {}
    for text in texts:
        key, eq, value = text.partition("=")
        if key not in keys or not eq or not value:
            raise InvalidArgument(
                f"invalid filter {text!r}: want KEY=VALUE with KEY one of {', '.join(keys)}"
            )
        wrong = problem(key, value)
        if wrong is not None:
            raise InvalidArgument(f"invalid filter {text!r}: {wrong}")
        filters.setdefault(key, []).append(value)
    return filters


def bad_pattern(value: str) -> str | None:
    """Why ``value`` is not a regular expression (a name filter's), or None."""
    try:
        re.compile(value)
    except re.error as err:
        return str(err)
    return None


def parse_filters(texts: list[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` flags grouped by key; one clear error for an unknown key or a bad value."""

    def problem(key: str, value: str) -> str | None:
        if key == "status" and value not in _STATUS:
            return f"status is one of {', '.join(_STATUS)}"
        if key == "exited" and not value.lstrip("-").isdigit():
            return "exited takes an exit code"
        return bad_pattern(value) if key == "name" else None

    return group_filters(texts, KEYS, problem)


def selects_stopped(filters: dict[str, list[str]]) -> bool:
    """Whether the filters ask about containers that are not running (as ``-a`` would)."""
    return "status" in filters or "exited" in filters


def matches(
    record: ContainerRecord, labels: dict[str, str], filters: dict[str, list[str]], pod_name: str = ""
) -> bool:
    """Whether the container (with its ``labels``, in pod ``pod_name``) passes every filter key:
    one of the key's values, or every one for ``label`` (as docker and podman take them, so
    docker-compose's project and service labels select one service's containers)."""
    return all(
        (all if key == "label" else any)(_match(record, labels, pod_name, key, value) for value in values)
        for key, values in filters.items()
    )


def _match(record: ContainerRecord, labels: dict[str, str], pod_name: str, key: str, value: str) -> bool:
    if key == "pod":  # podman's: the pod's name, id, or an id prefix
        return bool(record.pod) and (value == pod_name or record.pod.startswith(value))
    if key == "id":
        return record.id.startswith(value)
    if key == "name":
        return re.search(value, record.name) is not None
    if key == "label":
        name, eq, wanted = value.partition("=")
        return name in labels and (not eq or labels[name] == wanted)
    if key == "status":
        return record.state in _STATUS[value]
    if key == "exited":
        return record.state in (EXITED, STOPPED) and record.exit_code == int(value)
    if key == "ancestor":
        return _is_ancestor(record, value)
    return value == record.config.get("network") or value in record.networks


def _is_ancestor(record: ContainerRecord, image: str) -> bool:
    """The container was made from ``image``: a prefix of its image ID, or its repository (with the
    tag, if ``image`` names one), both references normalized as the image store names images."""
    digits = image.removeprefix("sha256:")
    if record.image_id and len(digits) >= 4 and record.image_id.removeprefix("sha256:").startswith(digits):
        return True
    try:
        wanted, made_from = Reference.parse(image, default_tag=False), Reference.parse(record.image)
    except InvalidArgument:
        return image == record.image  # a --rootfs directory, or not a reference at all
    return wanted.name == made_from.name and wanted.tag in ("", made_from.tag)
