"""ExecSync, and the streaming RPCs (Exec, Attach, PortForward) this server does not serve yet."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from berth.cri.containers import find_container
from berth.cri.proto import api_pb2 as pb
from berth.cri.service import Services
from berth.engine.engine import new_id
from berth.errors import InvalidArgument, Unsupported


def exec_sync(services: Services, request: Any) -> Any:
    """Run ``cmd`` in the running container through the runtime's ``exec``, with no terminal, and
    return its output and exit code; ``timeout`` seconds (0: none) kill it, exit code 124 (as
    containerd reports a timed-out probe's exec... with the output so far)."""
    from berth.engine.containers.execute import prepare_exec
    from berth.engine.containers.state import refresh

    if not request.cmd:
        raise InvalidArgument("cmd is required")
    with services.engine() as engine:
        record = refresh(engine, find_container(engine, request.container_id))
        pid_file = engine.paths(record.id).rundir / f"exec-sync-{new_id()[:16]}.pid"
        argv, process_file = prepare_exec(engine, record, list(request.cmd), pid_file=pid_file)
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=request.timeout or None,
        )
    except subprocess.TimeoutExpired as expired:
        _kill_pid_in(pid_file)  # the runtime's exec is gone; the process it started is not
        return pb.ExecSyncResponse(stdout=expired.stdout or b"", stderr=expired.stderr or b"", exit_code=124)
    finally:
        process_file.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return pb.ExecSyncResponse(stdout=proc.stdout, stderr=proc.stderr, exit_code=code)


def _kill_pid_in(pid_file: Path) -> None:
    """SIGKILL the process whose pid ``pid_file`` holds (none if it is missing: it never started)."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def streaming(name: str) -> Any:
    """A handler for a streaming RPC that answers UNIMPLEMENTED naming what is missing."""

    def refuse(services: Services, request: Any) -> Any:
        raise Unsupported(
            f"{name} is not supported yet: berth cri serve has no streaming server "
            "(use ExecSync, or berth exec/attach on the node)"
        )

    return refuse


def checkpoint_container(services: Services, request: Any) -> Any:
    """Checkpoints (CRIU) are not supported."""
    raise Unsupported("CheckpointContainer is not supported: Berth has no checkpoint/restore (CRIU)")
