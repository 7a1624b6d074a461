"""config.md#posix-platform-hooks: run one kind of hook with the container state on stdin.

Which failures are fatal is the caller's business (runtime.md#lifecycle): prestart, createRuntime,
createContainer and startContainer failures stop the container; poststart and poststop failures
are only warnings.
"""

from __future__ import annotations

from berth.errors import BerthError
from berth.spec.runtime_config import Hook

TYPE_CHECKING = False  # typing costs milliseconds to import; type checkers see True
if TYPE_CHECKING:
    from collections.abc import Mapping


class HookFailed(BerthError):
    """A hook exited non-zero, could not run, or outlived its timeout."""


def run_hooks(kind: str, hooks: Mapping[str, tuple[Hook, ...]], state_json: str) -> None:
    """Run every ``kind`` hook in order; raise ``HookFailed`` at the first failure."""
    for hook in hooks.get(kind, ()):
        run_hook(kind, hook, state_json)


def run_hook(kind: str, hook: Hook, state_json: str) -> None:
    """Run one hook: ``path`` with ``args`` (argv[0] included) and exactly ``env``; state on stdin."""
    import subprocess

    argv = list(hook.args) or [hook.path]
    env = dict(e.split("=", 1) for e in hook.env)
    try:
        done = subprocess.run(
            argv,
            executable=hook.path,
            input=state_json.encode(),
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=hook.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise HookFailed(f"{kind} hook {hook.path} timed out after {hook.timeout}s") from None
    except OSError as err:
        raise HookFailed(f"{kind} hook {hook.path}: {err.strerror}") from None
    if done.returncode != 0:
        detail = done.stderr.decode(errors="replace").strip().splitlines()
        why = f": {detail[-1]}" if detail else ""
        raise HookFailed(f"{kind} hook {hook.path} failed with exit status {done.returncode}{why}")


def warn_hooks(kind: str, hooks: Mapping[str, tuple[Hook, ...]], state_json: str) -> list[str]:
    """Run every ``kind`` hook, continuing past failures; return the warnings to log."""
    warnings = []
    for hook in hooks.get(kind, ()):
        try:
            run_hook(kind, hook, state_json)
        except HookFailed as err:
            warnings.append(str(err))
    return warnings
