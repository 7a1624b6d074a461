"""One driver for every runc-compatible OCI runtime (berth-runtime, runc, crun, or a path).

The engine speaks to a runtime only through its command line, exactly as podman and conmon do
(runtime-spec runtime.md#operations: create, start, state, kill, delete), so any runtime that accepts
runc's commands works. Each runtime keeps its state under ``--root`` inside Berth's run root, and
writes its own errors as JSON lines to ``--log`` so a failure can be reported in one line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from berth.errors import BerthError, NotFound

TYPE_CHECKING = False  # typing costs every command ~2 ms to import; type checkers see True
if TYPE_CHECKING:
    from typing import Any

#: Runtimes Berth knows by name; anything else must be a configured name or a path.
KNOWN_RUNTIMES = ("berth-runtime", "runc", "crun")
_SEARCH_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


class RuntimeFailure(BerthError):
    """The OCI runtime refused or failed an operation; the message is the runtime's own."""


def resolve_runtime(name: str, configured: dict[str, str] | None = None) -> str:
    """The executable for runtime ``name``: a path, a configured name, or a binary found on PATH.

    ``berth-runtime`` is also looked for beside the running Python, where the project installs it.
    """
    if "/" in name:
        if os.access(name, os.X_OK) and not os.path.isdir(name):
            return os.path.abspath(name)
        raise NotFound(f"OCI runtime {name} is not an executable file")
    if configured and name in configured:
        return resolve_runtime(configured[name])
    search = [os.path.dirname(sys.executable), *os.environ.get("PATH", "").split(os.pathsep), *_SEARCH_PATH]
    for directory in search:
        candidate = os.path.join(directory, name)
        # shutil.which's test, without importing shutil (and its archive modules) on every start
        if directory and os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise NotFound(f"OCI runtime {name!r} not found")


def launcher(path: str) -> list[str]:
    """The command that starts the runtime at ``path``: the path itself, except for the
    ``berth-runtime`` installed beside the running interpreter (this very Berth's runtime).

    That one is a console script, whose interpreter first runs ``site`` (and Debian's
    ``sitecustomize``): about 2 ms of every start, on the path of every container start, for nothing
    the runtime imports (the standard library and ``berth`` alone). So the engine starts it as the
    same interpreter with ``-S``, ``berth``'s own directory on its path, and the same arguments.
    """
    if path != os.path.join(os.path.dirname(sys.executable), "berth-runtime"):
        return [path]
    import berth

    top = os.path.dirname(os.path.dirname(os.path.abspath(berth.__file__)))
    code = f"import sys; sys.path.append({top!r}); from berth.runtime.cli import main; main()"
    return [sys.executable, "-S", "-c", code]


class OCIRuntime:
    """Drives one runtime binary with ``--root`` set to ``state_root``."""

    def __init__(self, name: str, path: str, state_root: Path) -> None:
        self.name = name
        self.path = path
        self.state_root = state_root
        self._launch = launcher(path)

    def argv(self, *args: str, log: Path | None = None) -> list[str]:
        """The full command line for runtime subcommand ``args``."""
        head = [*self._launch, "--root", str(self.state_root)]
        if log is not None:
            head += ["--log", str(log), "--log-format", "json"]
        return [*head, *args]

    def features(self) -> dict[str, Any]:
        """The runtime's ``features`` document (runtime-spec features.md); {} if it has none."""
        try:
            return dict(json.loads(self._run(["features"], "features")))
        except (RuntimeFailure, ValueError, TypeError):
            return {}  # an older runtime (runc before 1.1) without the command

    def _run(self, args: Sequence[str], what: str, ok_missing: bool = False) -> str:
        return self._finish(self._begin(args), what, ok_missing)

    def _begin(self, args: Sequence[str]) -> subprocess.Popen[str]:
        self.state_root.mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            self.argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def _finish(self, proc: subprocess.Popen[str], what: str, ok_missing: bool) -> str:
        stdout, stderr = proc.communicate()
        if proc.returncode != 0:
            message = last_error_line(stderr) or f"exit status {proc.returncode}"
            if ok_missing and _is_missing(message):
                return ""
            raise RuntimeFailure(f"{self.name} {what} failed: {message}")
        return stdout

    def create_argv(
        self, cid: str, bundle: Path, pid_file: Path, console_socket: str | None, log: Path
    ) -> list[str]:
        """The ``create`` command line; the monitor runs it so the container becomes its child."""
        return self._creating_argv(["create"], cid, bundle, pid_file, console_socket, log)

    def run_detached_argv(
        self, cid: str, bundle: Path, pid_file: Path, console_socket: str | None, log: Path
    ) -> list[str]:
        """``run --detach``: ``create`` and ``start`` in one runtime process (runc's command line),
        for a container that needs nothing set up between the two; the monitor runs it."""
        return self._creating_argv(["run", "--detach"], cid, bundle, pid_file, console_socket, log)

    def _creating_argv(
        self, verb: list[str], cid: str, bundle: Path, pid_file: Path, console_socket: str | None, log: Path
    ) -> list[str]:
        args = [*verb, "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            args += ["--console-socket", console_socket]
        return self.argv(*args, cid, log=log)

    def start(self, cid: str) -> None:
        """Run the user process of a created container (runtime.md#start)."""
        self._run(["start", cid], "start")

    def state(self, cid: str) -> dict[str, Any] | None:
        """The runtime's state document for ``cid`` (runtime.md#state), or ``None`` if it has none."""
        self.state_root.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            self.argv("state", cid), capture_output=True, text=True, stdin=subprocess.DEVNULL
        )
        if proc.returncode != 0:
            return None
        state: dict[str, Any] = json.loads(proc.stdout)
        return state

    def kill(
        self, cid: str, signal: str | int, all_processes: bool = False, ok_missing: bool = False
    ) -> None:
        """Send ``signal`` to the container's init (or every process with ``all_processes``)."""
        args = ["kill", *(["--all"] if all_processes else []), cid, str(signal)]
        self._run(args, "kill", ok_missing=ok_missing)

    def delete(self, cid: str, force: bool = False) -> None:
        """Remove the runtime's state and cgroup for ``cid``; no error if it is already gone."""
        self.begin_delete(cid, force)()

    def begin_delete(self, cid: str, force: bool = False) -> Callable[[], None]:
        """``delete``, its runtime process started now; the function returned waits for it to end
        (raising as ``delete`` does), so the caller can work meanwhile."""
        proc = self._begin(["delete", *(["--force"] if force else []), cid])

        def finish() -> None:
            self._finish(proc, "delete", ok_missing=True)

        return finish

    def pause(self, cid: str) -> None:
        """Freeze every process of the container."""
        self._run(["pause", cid], "pause")

    def resume(self, cid: str) -> None:
        """Thaw a paused container."""
        self._run(["resume", cid], "resume")

    def update(self, cid: str, resources_file: Path) -> None:
        """Apply a runtime-spec ``linux.resources`` document to the running container."""
        self._run(["update", "--resources", str(resources_file), cid], "update")

    def exec_argv(self, cid: str, process_file: Path, tty: bool, pid_file: Path | None = None) -> list[str]:
        """The (foreground) ``exec`` command line; the caller runs it with the process's stdio.
        ``pid_file`` gets the exec'd process's host pid (to kill it: killing ``exec`` does not)."""
        args = ["exec", "--process", str(process_file)]
        if tty:
            args.append("--tty")
        if pid_file is not None:
            args += ["--pid-file", str(pid_file)]
        return self.argv(*args, cid)


def last_error_line(output: str) -> str:
    """The runtime's error message from its stderr or JSON log: the last non-empty line, de-JSONed."""
    for line in reversed(output.strip().splitlines()):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                return line
            if isinstance(entry, dict) and entry.get("level") in ("error", "fatal", None):
                return str(entry.get("msg", line))
            continue
        return line
    return ""


def _is_missing(message: str) -> bool:
    lowered = message.lower()
    return "does not exist" in lowered or "not exist" in lowered or "not found" in lowered


def open_runtime(name: str, configured: dict[str, str], state_root: Path) -> OCIRuntime:
    """Resolve ``name`` and return its driver, with state kept under ``state_root / basename``."""
    path = resolve_runtime(name, configured)
    return OCIRuntime(name, path, state_root / Path(path).name)
