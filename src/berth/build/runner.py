"""RUN: a command in a container on the stage's writable root, through Berth's engine and runtime.

The container is created with the root as ``--rootfs``, attached (its output is the build's),
waited for and removed. Of the mount points made in the root for it, buildah 1.28 keeps most in
the layer, and so does Berth: /proc, /sys, /dev, /run, /etc/hostname (and /etc/hosts and
/etc/resolv.conf when the RUN has a network) stay, as empty 0755 directories and files; only
/run/.containerenv and each ``RUN --mount`` target itself (not its parents) are removed again.

    code = run_in_root(engine, root, ["/bin/sh", "-c", "make"], state, network="none", mounts=[])
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from berth.build.copier import resolve_in_root
from berth.build.expand import raw_words
from berth.build.instructions import Run
from berth.build.state import StageState
from berth.engine.engine import Engine
from berth.errors import BerthError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from berth.engine.containers.attach import OutputSink

#: Paths the engine and runtime mount over in every container (runtime-spec config.md#mounts and
#: the engine's /etc files); made in the root only if missing.
_MOUNT_POINTS = (
    "/proc",
    "/sys",
    "/dev",
    "/etc/hosts",
    "/etc/hostname",
    "/etc/resolv.conf",
    "/run/.containerenv",
)
#: The files that only a RUN with a network has mounted (buildah 1.28 binds them then).
_NETWORK_FILES = ("/etc/hosts", "/etc/resolv.conf")


def shell_command(state: StageState, ins: Run) -> list[str]:
    """The argv of a RUN: the exec form's list, or SHELL plus the text (heredocs folded in)."""
    if ins.command.json:
        return list(ins.command.args)
    text = ins.command.args[0]
    if not ins.heredocs:
        return [*state.shell, text]
    if len(ins.heredocs) == 1 and len(raw_words(text, ins.line.escape)) == 1:
        return [*state.shell, ins.heredocs[0].content]  # `RUN <<EOF`, its word alone: the script
    # Otherwise the heredocs feed the command, as a shell reading the same lines would.
    return [*state.shell, text + "\n" + "".join(doc.content + doc.name + "\n" for doc in ins.heredocs)]


def run_in_root(
    engine: Engine,
    root: Path,
    argv: Sequence[str],
    state: StageState,
    network: str,
    mounts: Sequence[str] = (),
    tmpfs: Sequence[str] = (),
    targets: Sequence[str] = (),
    quiet: bool = False,
    output: OutputSink | None = None,
    add_hosts: Sequence[str] = (),
) -> int:
    """Run ``argv`` in a container on ``root`` with the stage's env, user and workdir; its exit code.

    ``mounts`` are ``-v`` specs (``SRC:DST[:ro]``), ``tmpfs`` are ``--tmpfs`` ones, ``targets``
    their destinations (the mount points made for them are removed afterwards). ``quiet``: the
    command's output is not shown; ``output``: it goes there rather than to this process's stdout
    and stderr. ``add_hosts``: ``HOST:IP`` lines for its /etc/hosts.
    """
    from berth.engine.containers.attach import relay, relay_output
    from berth.engine.containers.create import create_container
    from berth.engine.containers.owned import owner_annotations
    from berth.engine.containers.remove import remove_container
    from berth.engine.containers.start import start_container
    from berth.engine.containers.stop import wait_container
    from berth.engine.options import CreateOptions

    missing = {made for path in (*_MOUNT_POINTS, *targets) for made in _absent(root, path)}
    removed = ["/run/.containerenv", *targets, *(_NETWORK_FILES if network == "none" else ())]
    opts = CreateOptions(
        rootfs=str(root),
        command=list(argv),
        env=state.run_env(),
        workdir=state.container.working_dir or "/",
        user=state.container.user,
        network=network,
        volumes=list(mounts),
        tmpfs=list(tmpfs),
        add_host=list(add_hosts),
        pull="never",
        # Marked as this build's, so ps lists it only with --external and it goes if we die.
        annotations=owner_annotations(),
    )
    record = create_container(engine, opts)
    try:
        sock = start_container(engine, record.id, attach=not quiet)
        code = None
        if sock is not None:
            with sock:
                code = relay(sock, False, False) if output is None else relay_output(sock, output)
        if code is None:
            code = wait_container(engine, record.id)
    finally:
        with contextlib.suppress(BerthError):
            remove_container(engine, record.id, force=True, volumes=True)
        _settle_mount_points(root, missing, [path for path in removed if path in missing])
    return code


def _absent(root: Path, path: str) -> list[str]:
    """``path`` and those of its parents missing from ``root``, outermost first (all would be made
    as mount points)."""
    parts = [p for p in path.split("/") if p]
    prefixes = ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]
    return [p for p in prefixes if not os.path.lexists(resolve_in_root(root, p))]


def _settle_mount_points(root: Path, made: set[str], removed: Sequence[str]) -> None:
    """Remove the mount points in ``removed`` the runtime created (empty files or directories);
    leave the others in ``made`` as buildah does: empty, mode 0755, root's (the parents of a
    removed one are directories, made if the runtime did not)."""
    for path in sorted(made, key=len, reverse=True):
        host = resolve_in_root(root, path)
        with contextlib.suppress(OSError):
            if path not in removed:
                if any(other.startswith(path + "/") for other in removed):
                    host.mkdir(exist_ok=True)
                os.chmod(host, 0o755)
            elif host.is_dir() and not host.is_symlink():
                host.rmdir()
            elif host.is_file() and host.stat().st_size == 0:
                host.unlink()
