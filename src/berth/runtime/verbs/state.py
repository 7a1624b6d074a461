"""``state``: print the container's state document (runtime.md#query-state) as indented JSON."""

from __future__ import annotations

from berth.runtime import container, jsontext


def state(root: str, container_id: str) -> str:
    """The state JSON of ``container_id``, indented as runc prints it (without ``json``'s imports:
    ``berth.runtime.jsontext``)."""
    return jsontext.dumps_indented(container.load(root, container_id).oci_state())
