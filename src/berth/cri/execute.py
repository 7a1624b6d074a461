"""ExecSync, and CheckpointContainer (not supported)."""

from __future__ import annotations

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
    return its output and exit code; ``timeout`` seconds (0: none) kill it, and the answer is exit
    code 124 with the output so far: an exit code, as CRI-O answers, fails the kubelet's exec probe
    whatever its ExecProbeTimeout gate says, where an error would leave the probe Unknown with the
    gate off."""
    from berth.engine.containers.execute import prepare_exec
    from berth.engine.containers.state import refresh

    if not request.cmd:
        raise InvalidArgument("cmd is required")
    if request.timeout < 0:
        raise InvalidArgument(f"timeout {request.timeout} is negative")
    with services.engine() as engine:
        record = refresh(engine, find_container(services, engine, request.container_id))
        pid_file = engine.paths(record.id).rundir / f"exec-sync-{new_id()[:16]}.pid"
        argv, process_file = prepare_exec(engine, record, list(request.cmd), pid_file=pid_file)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = proc.communicate(timeout=request.timeout or None)
    except subprocess.TimeoutExpired:
        # Kill the process, not the runtime's exec: that one reaps it (an orphan would stay a
        # zombie under a container init that does not reap) and then exits.
        if not _kill_pid_in(pid_file):
            proc.kill()  # it had not started the process yet
        stdout, stderr = proc.communicate()
        return pb.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=124)
    finally:
        process_file.unlink(missing_ok=True)
        pid_file.unlink(missing_ok=True)
    code = proc.returncode if proc.returncode >= 0 else 128 - proc.returncode
    return pb.ExecSyncResponse(stdout=stdout, stderr=stderr, exit_code=code)


def _kill_pid_in(pid_file: Path) -> bool:
    """SIGKILL the process whose pid ``pid_file`` holds; False if there is none (yet)."""
    try:
        os.kill(int(pid_file.read_text()), signal.SIGKILL)
    except (OSError, ValueError):
        return False
    return True


def checkpoint_container(services: Services, request: Any) -> Any:
    """Checkpoints (CRIU) are not supported."""
    raise Unsupported("CheckpointContainer is not supported: Berth has no checkpoint/restore (CRIU)")
