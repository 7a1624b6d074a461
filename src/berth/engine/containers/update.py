"""``update``: change a running container's resource limits."""

from __future__ import annotations

import json
from typing import Any

from berth.engine.containers.state import refresh
from berth.engine.engine import Engine, new_id
from berth.engine.metadata import ACTIVE, ContainerRecord
from berth.engine.options import CreateOptions
from berth.errors import InvalidState


def update_container(
    engine: Engine,
    ref: str,
    memory: str = "",
    cpus: str = "",
    pids_limit: int = 0,
    cpu_shares: int = 0,
    cpuset_cpus: str = "",
    cpuset_mems: str = "",
) -> None:
    """Change a running container's memory, CPU and pids limits, CPU weight (``cpu_shares``) and
    CPU and memory nodes (runtime ``update``); what is not given stays as it was.

    The new limits are also kept in the container's record and ``config.json``, so they hold
    after a restart.
    """
    from berth.engine.containers.oci_config import resources

    record = refresh(engine, engine.db.container(ref))
    if record.state not in ACTIVE:
        raise InvalidState(f"container {record.name} is not running (state {record.state})")
    opts = CreateOptions.from_json(record.config["options"])
    opts.memory = memory or opts.memory
    opts.cpus = cpus or opts.cpus
    opts.pids_limit = pids_limit or opts.pids_limit
    opts.cpu_shares = cpu_shares or opts.cpu_shares
    opts.cpuset_cpus = cpuset_cpus or opts.cpuset_cpus
    opts.cpuset_mems = cpuset_mems or opts.cpuset_mems
    set_resources(engine, record, resources(opts))
    engine.db.update_container(record.id, config={**record.config, "options": opts.to_json()})


def set_resources(engine: Engine, record: ContainerRecord, wanted: dict[str, Any]) -> None:
    """Give the container the OCI ``linux.resources`` ``wanted`` (config-linux.md#control-groups):
    through the runtime's ``update`` while it runs, and in its ``config.json`` for its next start."""
    from berth.engine.containers.oci_config import write_config

    paths = engine.paths(record.id)
    if record.state in ACTIVE:
        update_file = paths.rundir / f"update-{new_id()[:16]}.json"
        update_file.write_text(json.dumps({k: v for k, v in wanted.items() if k != "devices"}))
        try:
            engine.runtime(record.runtime).update(record.id, update_file)
        finally:
            update_file.unlink(missing_ok=True)
    config = json.loads(paths.config_json.read_text())
    config["linux"]["resources"] = wanted
    write_config(paths, config)
