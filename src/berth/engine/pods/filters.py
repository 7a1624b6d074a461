"""``pod ps --filter KEY=VALUE``: podman's pod filters (values of one key are alternatives, keys
must all match)."""

from __future__ import annotations

import re

from berth.engine.containers.filters import bad_pattern, group_filters
from berth.engine.metadata import ContainerRecord, PodRecord
from berth.engine.pods.status import status_of

KEYS = ("id", "name", "label", "status", "network", "ctr-names", "ctr-ids", "ctr-status", "ctr-number")
#: podman's pod states as ``status=`` takes them.
_STATUSES = ("created", "running", "degraded", "paused", "stopped", "exited", "dead")


def parse_filters(texts: list[str]) -> dict[str, list[str]]:
    """``KEY=VALUE`` flags grouped by key; one clear error for an unknown key or a bad value."""

    def problem(key: str, value: str) -> str | None:
        if key == "status" and value not in _STATUSES:
            return f"status is one of {', '.join(_STATUSES)}"
        if key == "ctr-number" and not value.isdigit():
            return "ctr-number takes a number"
        return bad_pattern(value) if key in ("name", "ctr-names") else None

    return group_filters(texts, KEYS, problem)


def matches(pod: PodRecord, members: list[ContainerRecord], filters: dict[str, list[str]]) -> bool:
    """Whether the pod (with its containers ``members``) passes every filter key."""
    return all(any(_match(pod, members, key, value) for value in values) for key, values in filters.items())


def _match(pod: PodRecord, members: list[ContainerRecord], key: str, value: str) -> bool:
    if key == "id":
        return pod.id.startswith(value)
    if key == "name":
        return re.search(value, pod.name) is not None
    if key == "label":
        name, eq, wanted = value.partition("=")
        return name in pod.labels and (not eq or pod.labels[name] == wanted)
    if key == "status":
        return status_of([c.state for c in members]).lower() == value
    if key == "network":
        return pod.config.get("network") == value
    if key == "ctr-names":
        return any(re.search(value, c.name) for c in members)
    if key == "ctr-ids":
        return any(c.id.startswith(value) for c in members)
    if key == "ctr-status":
        return any(c.state == value for c in members)
    return len(members) == int(value)
