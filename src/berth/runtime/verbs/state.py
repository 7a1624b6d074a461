"""``state``: print the container's state document (runtime.md#query-state) as indented JSON."""

from __future__ import annotations

import json

from berth.runtime import container


def state(root: str, container_id: str) -> str:
    """The state JSON of ``container_id``."""
    return json.dumps(container.load(root, container_id).oci_state(), indent=2)
